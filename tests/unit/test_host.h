/* test_host.h: the real fk-gateway host (gateway/host.c over
 * gateway_config.c) for tests that load a driver with dlopen. The
 * configuration is written as .env text from key/value pairs and parsed by
 * the gateway's own code, so a driver under test sees exactly the rules
 * fk-gateway applies (typed getters, shared keys, paths) and the host's
 * post and timers on the test's event_base. */
#ifndef FK_TEST_HOST_H
#define FK_TEST_HOST_H

#include "driver.h"
#include "gateway/gateway_config.h"
#include "gateway/host.h"

struct event_base;

typedef struct test_host {
    fk_config cfg;        /* the parsed configuration */
    fk_host_services svc; /* the services; svc.table is the fk_host drivers get */
    int open;             /* cfg and svc are set up (test_host_close undoes them) */
} test_host;

/* kv: "KEY", "VALUE", ..., NULL (values written double-quoted). The host, or
 * NULL with the configuration error ("test.env:LINE: KEY: why") in err. */
const fk_host *test_host_open(test_host *t, struct event_base *base, const char *const *kv,
                              char *err, size_t err_len);
/* Drop what drivers posted and free the configuration (after destroy()). */
void test_host_close(test_host *t);
/* fk-driver-NAME.so from FK_DRIVER_DIR, opened as the gateway does; NULL
 * (with a diagnostic) when it cannot be loaded. *handle gets the dlopen handle. */
const fk_driver *test_load_driver(const char *name, void **handle);

#endif
