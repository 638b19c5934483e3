# drivers/cuda: build rules (owned by this module)
# The serving core of the native engine (sampler, stop strings, scheduler) and
# the driver plugin fk-driver-native.so that fk-gateway loads for
# FK_CORE_KIND=vllm.
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/sampler.c drivers/cuda/sampler.h \
	drivers/cuda/stopstr.c drivers/cuda/stopstr.h \
	drivers/cuda/scheduler.c drivers/cuda/scheduler.h

check_PROGRAMS += tests/unit/test_sampler tests/unit/test_stopstr
TESTS += tests/unit/test_sampler tests/unit/test_stopstr
# The unit tests compile the pure parts they test directly, so they do not
# depend on the rest of the engine.
tests_unit_test_sampler_SOURCES = tests/unit/test_sampler.c drivers/cuda/sampler.c
tests_unit_test_sampler_LDADD = -lm
tests_unit_test_stopstr_SOURCES = tests/unit/test_stopstr.c drivers/cuda/stopstr.c

# The driver plugin: everything it needs is linked in; it exports fk_driver_init.
pkglib_LTLIBRARIES += drivers/cuda/fk-driver-native.la
drivers_cuda_fk_driver_native_la_SOURCES = drivers/cuda/driver_native.c
drivers_cuda_fk_driver_native_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
drivers_cuda_fk_driver_native_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared
drivers_cuda_fk_driver_native_la_LIBADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(LIBEVENT_LIBS) $(PTHREAD_LIBS)

# The scheduler runs over the real tiny model and tokenizer.
check_PROGRAMS += tests/unit/test_scheduler
TESTS += tests/unit/test_scheduler
tests_unit_test_scheduler_SOURCES = tests/unit/test_scheduler.c
tests_unit_test_scheduler_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm

# The plugin as the gateway sees it: dlopen, a host of the test's own.
check_PROGRAMS += tests/unit/test_driver_native
TESTS += tests/unit/test_driver_native
tests_unit_test_driver_native_SOURCES = tests/unit/test_driver_native.c
tests_unit_test_driver_native_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_driver_native_LDADD = $(LIBEVENT_LIBS)

# End to end through the real gateway and the openai client.
TESTS += tests/integration/native_e2e.mjs
EXTRA_DIST += tests/integration/native_e2e.mjs

# Sampler timings over V = 201088 (not a test: prints numbers).
noinst_PROGRAMS += tests/bench/bench_sampler
tests_bench_bench_sampler_SOURCES = tests/bench/bench_sampler.c drivers/cuda/sampler.c
tests_bench_bench_sampler_CFLAGS = $(AM_CFLAGS) $(ENGINE_CFLAGS)
tests_bench_bench_sampler_LDADD = -lm

FUZZERS += tests/fuzz/fuzz_stopstr
tests_fuzz_fuzz_stopstr_SOURCES = tests/fuzz/fuzz_stopstr.c drivers/cuda/stopstr.c
tests_fuzz_fuzz_stopstr_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_stopstr_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
EXTRA_DIST += tests/fuzz/corpus/stopstr

# Continuous batching versus one at a time (not a test: prints tokens/s).
noinst_PROGRAMS += tests/bench/bench_scheduler
tests_bench_bench_scheduler_SOURCES = tests/bench/bench_scheduler.c
tests_bench_bench_scheduler_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm
