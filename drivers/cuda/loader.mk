# drivers/cuda/: the native engine as a convenience library. This fragment
# defines it with the checkpoint loader; model.mk and engine.mk add to it.
noinst_LTLIBRARIES += drivers/cuda/libfkengine.la
drivers_cuda_libfkengine_la_SOURCES = drivers/cuda/checkpoint.h
drivers_cuda_libfkengine_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ENGINE_CFLAGS)
drivers_cuda_libfkengine_la_LIBADD = $(JANSSON_LIBS) -lm
