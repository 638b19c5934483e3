/* driver_loader.h: find, open and check a driver plugin (fk-driver-NAME.so). */
#ifndef FK_GATEWAY_DRIVER_LOADER_H
#define FK_GATEWAY_DRIVER_LOADER_H

#include <stddef.h>

#include "driver.h"

typedef struct fk_loaded_driver {
    void *handle;           /* dlopen handle */
    const fk_driver *table; /* &copy once loaded */
    fk_driver copy;         /* the driver's table as far as it has it; members it lacks are NULL */
    char *path;             /* the file opened (owned) */
} fk_loaded_driver;

/* Search each directory of the colon-separated `dirs` for fk-driver-NAME.so,
 * open it RTLD_NOW|RTLD_LOCAL, check its ABI version and required members
 * (a smaller, older table is accepted: what it lacks reads NULL) and run its
 * probe.
 * 0 on success; -1 with a message in err (the directories searched, the
 * missing symbol, both ABI versions, or the probe's reason). The handle is
 * closed on every failure path. */
int fk_driver_load(const char *name, const char *dirs, const fk_host *host, fk_loaded_driver *out,
                   char *err, size_t err_len);
/* dlclose and free; `d` may be partly filled or zeroed. */
void fk_driver_unload(fk_loaded_driver *d);

#endif
