/* nosym.c: fk-driver-nosym.so, a shared object without fk_driver_init, so the
 * loader's missing-symbol error can be tested. */
int fk_driver_nosym_marker(void);
int fk_driver_nosym_marker(void)
{
    return 42;
}
