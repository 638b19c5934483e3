/* badabi.c: fk-driver-badabi.so, a driver built for another ABI version, so
 * the loader's version check can be tested. */
#include "driver.h"

static const fk_driver badabi_driver = {
    .abi_version = FK_DRIVER_ABI_VERSION + 41u,
    .struct_size = sizeof(fk_driver),
    .name = "badabi",
    .version = "0",
};

const fk_driver *fk_driver_init(void);
const fk_driver *fk_driver_init(void)
{
    return &badabi_driver;
}
