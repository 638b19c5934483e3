# drivers/cuda/checkpoint/: safetensors shards through the index, config.json,
# the gpt-oss tensor table, and the writer fk-mkmodel uses (with out_file,
# which fk-gguf's writer shares).
drivers_cuda_libfkengine_la_SOURCES += drivers/cuda/checkpoint/checkpoint.h \
	drivers/cuda/checkpoint/dtype.c drivers/cuda/checkpoint/safetensors.c \
	drivers/cuda/checkpoint/config.c drivers/cuda/checkpoint/gptoss_tensors.c \
	drivers/cuda/checkpoint/checkpoint.c drivers/cuda/checkpoint/out_file.h \
	drivers/cuda/checkpoint/out_file.c drivers/cuda/checkpoint/st_writer.h \
	drivers/cuda/checkpoint/st_writer.c

# Loader tests: the tiny fixture checkpoints, handmade broken ones, fk-mkmodel round trips.
LOADER_TEST_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS)
check_PROGRAMS += tests/unit/test_safetensors tests/unit/test_config tests/unit/test_checkpoint
TESTS += tests/unit/test_safetensors tests/unit/test_config tests/unit/test_checkpoint
tests_unit_test_safetensors_SOURCES = tests/unit/test_safetensors.c
tests_unit_test_safetensors_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_safetensors_LDADD = $(LOADER_TEST_LDADD)
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_LDADD = $(LOADER_TEST_LDADD)
tests_unit_test_checkpoint_SOURCES = tests/unit/test_checkpoint.c
tests_unit_test_checkpoint_LDADD = $(LOADER_TEST_LDADD)

# Fuzz targets: the safetensors header validator and the config parser. The
# loader sources are compiled into each target so libFuzzer sees their coverage.
FUZZERS += tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_config
tests_fuzz_fuzz_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c \
	drivers/cuda/checkpoint/dtype.c drivers/cuda/checkpoint/safetensors.c
tests_fuzz_fuzz_safetensors_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_safetensors_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_safetensors_LDADD = $(JANSSON_LIBS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c drivers/cuda/checkpoint/config.c
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDADD = $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/safetensors tests/fuzz/corpus/config

# Load benchmark (not a test): a 20b-shaped checkpoint timed open/prefault with RSS.
noinst_PROGRAMS += tests/bench/bench_load
tests_bench_bench_load_SOURCES = tests/bench/bench_load.c tests/bench/bench_util.h
tests_bench_bench_load_LDADD = $(LOADER_TEST_LDADD)
EXTRA_DIST += tests/bench/bench_load.sh
