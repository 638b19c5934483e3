# drivers/cuda/serve/: what turns the model into a server: the sampler, stop
# strings and the scheduler (continuous batching).
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/serve/sampler.c drivers/cuda/serve/sampler.h \
	drivers/cuda/serve/stopstr.c drivers/cuda/serve/stopstr.h \
	drivers/cuda/serve/scheduler.c drivers/cuda/serve/scheduler.h \
	drivers/cuda/serve/logprobs.c drivers/cuda/serve/logprobs.h \
	drivers/cuda/serve/tokmask.c drivers/cuda/serve/tokmask.h \
	drivers/cuda/serve/constraint.c drivers/cuda/serve/constraint.h

check_PROGRAMS += tests/unit/test_sampler tests/unit/test_stopstr tests/unit/test_logprobs
TESTS += tests/unit/test_sampler tests/unit/test_stopstr tests/unit/test_logprobs
# The unit tests compile the pure parts they test directly, so they do not
# depend on the rest of the engine.
tests_unit_test_sampler_SOURCES = tests/unit/test_sampler.c drivers/cuda/serve/sampler.c
tests_unit_test_sampler_LDADD = -lm
tests_unit_test_stopstr_SOURCES = tests/unit/test_stopstr.c drivers/cuda/serve/stopstr.c
tests_unit_test_logprobs_SOURCES = tests/unit/test_logprobs.c drivers/cuda/serve/logprobs.c
tests_unit_test_logprobs_LDADD = -lm

# The scheduler runs over the real tiny model and tokenizer.
check_PROGRAMS += tests/unit/test_scheduler
TESTS += tests/unit/test_scheduler
tests_unit_test_scheduler_SOURCES = tests/unit/test_scheduler.c
tests_unit_test_scheduler_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm

# Sampler timings over V = 201088 (not a test: prints numbers).
noinst_PROGRAMS += tests/bench/bench_sampler
tests_bench_bench_sampler_SOURCES = tests/bench/bench_sampler.c drivers/cuda/serve/sampler.c
tests_bench_bench_sampler_CFLAGS = $(AM_CFLAGS) $(ENGINE_CFLAGS)
tests_bench_bench_sampler_LDADD = -lm

FUZZERS += tests/fuzz/fuzz_stopstr
tests_fuzz_fuzz_stopstr_SOURCES = tests/fuzz/fuzz_stopstr.c drivers/cuda/serve/stopstr.c
tests_fuzz_fuzz_stopstr_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_stopstr_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
EXTRA_DIST += tests/fuzz/corpus/stopstr

# Continuous batching versus one at a time (not a test: prints tokens/s).
noinst_PROGRAMS += tests/bench/bench_scheduler
tests_bench_bench_scheduler_SOURCES = tests/bench/bench_scheduler.c tests/bench/bench_util.h
tests_bench_bench_scheduler_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm

# Time to first token over a growing chat, with and without the prefix cache
# (not a test: prints seconds).
noinst_PROGRAMS += tests/bench/bench_prefix
tests_bench_bench_prefix_SOURCES = tests/bench/bench_prefix.c tests/bench/bench_util.h
tests_bench_bench_prefix_CFLAGS = $(AM_CFLAGS) $(ENGINE_CFLAGS)
tests_bench_bench_prefix_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm
EXTRA_DIST += tests/bench/bench_prefix.sh

# Token masks over the real vocabulary: exact against brute force, and
# calls sampled from random logits under the constraint.
check_PROGRAMS += tests/unit/test_tokmask
TESTS += tests/unit/test_tokmask
tests_unit_test_tokmask_SOURCES = tests/unit/test_tokmask.c tests/unit/ref_validator.h
tests_unit_test_tokmask_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_tokmask_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm

# The cost per token of constrained sampling, next to the sampler's (not a
# test: prints numbers).
noinst_PROGRAMS += tests/bench/bench_constrain
tests_bench_bench_constrain_SOURCES = tests/bench/bench_constrain.c
tests_bench_bench_constrain_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_constrain_LDADD = drivers/cuda/libfkengine.la tokenizer/libfktok.la \
	$(JANSSON_LIBS) $(PCRE2_LIBS) -lm
