# drivers/cuda/: the native engine as a convenience library. This fragment
# defines it with the checkpoint loader; model.mk and engine.mk add to it.
noinst_LTLIBRARIES += drivers/cuda/libfkengine.la
drivers_cuda_libfkengine_la_SOURCES = drivers/cuda/checkpoint.h drivers/cuda/dtype.c \
	drivers/cuda/safetensors.c drivers/cuda/config.c drivers/cuda/gptoss_tensors.c \
	drivers/cuda/checkpoint.c
drivers_cuda_libfkengine_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ENGINE_CFLAGS)
drivers_cuda_libfkengine_la_LIBADD = $(JANSSON_LIBS) -lm

# Loader tests: the tiny fixture checkpoints and handmade broken ones.
LOADER_TEST_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS)
check_PROGRAMS += tests/unit/test_checkpoint
TESTS += tests/unit/test_checkpoint
tests_unit_test_checkpoint_SOURCES = tests/unit/test_checkpoint.c
tests_unit_test_checkpoint_LDADD = $(LOADER_TEST_LDADD)
