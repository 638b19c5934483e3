# drivers/cuda/backends/ref/: the reference backend (plain loops, one thread)
# that every fast backend is tested against, op by op.
drivers_cuda_libfkengine_la_SOURCES += drivers/cuda/backends/ref/backend_ref.c

# Every op of the CPU backend (1 and 3 threads) against the reference backend.
check_PROGRAMS += tests/unit/test_backend_ops
TESTS += tests/unit/test_backend_ops
tests_unit_test_backend_ops_SOURCES = tests/unit/test_backend_ops.c tests/unit/rand_ops.h
tests_unit_test_backend_ops_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
