# drivers/cuda/: the native engine. Its parts live in folders, each with its
# own fragment that adds sources to the convenience library libfkengine.la
# defined here (all compiled with $(ENGINE_CFLAGS)):
#   checkpoint/     safetensors shards, config.json, the gpt-oss tensor table
#   model/          the forward pass, the backend table, RoPE, KV cache
#   backends/cpu/   the CPU backend and its thread pool
#   backends/ref/   the reference backend the fast kernels are tested against
#   serve/          sampler, stop strings, scheduler (continuous batching)
#   tools/          fk-golden, fk-mkmodel, fk-gguf
# and this folder holds the plugin on top: fk-driver-native.so, which
# fk-gateway loads for FK_CORE_KIND=vllm.
noinst_LTLIBRARIES += drivers/cuda/libfkengine.la
drivers_cuda_libfkengine_la_SOURCES =
drivers_cuda_libfkengine_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ENGINE_CFLAGS)
drivers_cuda_libfkengine_la_LIBADD = constrain/libfkconstrain.la $(JANSSON_LIBS) -lm

# The driver plugin: everything it needs is linked in; it exports fk_driver_init.
pkglib_LTLIBRARIES += drivers/cuda/fk-driver-native.la
drivers_cuda_fk_driver_native_la_SOURCES = drivers/cuda/driver_native.c
drivers_cuda_fk_driver_native_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared
drivers_cuda_fk_driver_native_la_LIBADD = drivers/cuda/libfkengine.la drivers/libfkprompt.la \
	tokenizer/libfktok.la $(PTHREAD_LIBS)

# The plugin as the gateway sees it: dlopen, a host of the test's own.
check_PROGRAMS += tests/unit/test_driver_native
TESTS += tests/unit/test_driver_native
tests_unit_test_driver_native_SOURCES = tests/unit/test_driver_native.c \
	tests/unit/test_host.h tests/unit/test_host.c
tests_unit_test_driver_native_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_driver_native_LDADD = gateway/libfkgateway.la $(LIBEVENT_LIBS)

# End to end through the real gateway and the openai client.
TESTS += tests/integration/native_e2e.mjs
EXTRA_DIST += tests/integration/native_e2e.mjs

# Greedy decoding through the gateway on both tiny checkpoints against the
# float64 goldens' greedy_ids.
TESTS += tests/integration/native_goldens.mjs
EXTRA_DIST += tests/integration/native_goldens.mjs
