# drivers/cuda: build rules (owned by this module)
# The gpt-oss model: CPU backend kernels, thread pool, YaRN rope, KV cache and
# the forward pass, added to libfkengine (compiled with $(ENGINE_CFLAGS)).
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/model.h drivers/cuda/model.c \
	drivers/cuda/backend.h drivers/cuda/backend_cpu.c \
	drivers/cuda/threadpool.h drivers/cuda/threadpool.c \
	drivers/cuda/rope.h drivers/cuda/rope.c \
	drivers/cuda/mxfp4.h drivers/cuda/kv.h drivers/cuda/kv.c

# fk-golden: the engine against reference logits and greedy continuations.
bin_PROGRAMS += drivers/cuda/fk-golden
drivers_cuda_fk_golden_SOURCES = drivers/cuda/fk-golden.c
drivers_cuda_fk_golden_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# Kernel unit tests (hand-computed cases) and the golden check on both tiny models.
check_PROGRAMS += tests/unit/test_model_layers
TESTS += tests/unit/test_model_layers tests/golden.sh
tests_unit_test_model_layers_SOURCES = tests/unit/test_model_layers.c
tests_unit_test_model_layers_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/golden.sh

# Engine benchmark (not a test): prefill/decode speed against memory bandwidth.
noinst_PROGRAMS += tests/bench/bench_engine
tests_bench_bench_engine_SOURCES = tests/bench/bench_engine.c
tests_bench_bench_engine_CFLAGS = $(AM_CFLAGS) $(ENGINE_CFLAGS)
tests_bench_bench_engine_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/bench/bench_engine.sh
