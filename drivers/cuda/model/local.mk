# drivers/cuda/model/: the gpt-oss forward pass over the backend table
# (backend.h), YaRN RoPE, the paged KV cache with its prefix cache, and the
# MXFP4 code table.
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/model/model.h drivers/cuda/model/model.c \
	drivers/cuda/model/backend.h \
	drivers/cuda/model/rope.h drivers/cuda/model/rope.c \
	drivers/cuda/model/mxfp4.h drivers/cuda/model/kv.h drivers/cuda/model/kv.c \
	drivers/cuda/model/prefix.c

# Kernel unit tests (hand-computed cases) and the golden check on both tiny models.
check_PROGRAMS += tests/unit/test_model_layers
TESTS += tests/unit/test_model_layers tests/golden.sh
tests_unit_test_model_layers_SOURCES = tests/unit/test_model_layers.c
tests_unit_test_model_layers_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/golden.sh

# Engine benchmark (not a test): prefill/decode speed against memory bandwidth.
noinst_PROGRAMS += tests/bench/bench_engine
tests_bench_bench_engine_SOURCES = tests/bench/bench_engine.c tests/bench/bench_util.h
tests_bench_bench_engine_CFLAGS = $(AM_CFLAGS) $(ENGINE_CFLAGS)
tests_bench_bench_engine_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/bench/bench_engine.sh
