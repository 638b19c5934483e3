# constrain/: libfkconstrain, tool-call constraints both cores share: JSON
# Schema compiled to one graph (schema.h), the byte automaton the native
# engine masks tokens with (pda.h), the GBNF grammar llama-server gets
# (gbnf.h), a request's tools and the Harmony call-header rule (tools.h).
noinst_LTLIBRARIES += constrain/libfkconstrain.la
constrain_libfkconstrain_la_SOURCES = \
	constrain/schema.h constrain/schema_build.h constrain/schema.c constrain/schema_norm.c \
	constrain/pda.h constrain/pda.c constrain/gbnf.h constrain/gbnf.c \
	constrain/tools.h constrain/tools.c
constrain_libfkconstrain_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
constrain_libfkconstrain_la_LIBADD = $(JANSSON_LIBS)
EXTRA_DIST += constrain/README.md

check_PROGRAMS += tests/unit/test_constrain
TESTS += tests/unit/test_constrain
tests_unit_test_constrain_SOURCES = tests/unit/test_constrain.c tests/unit/ref_validator.h \
	tests/unit/pda_complete.h
tests_unit_test_constrain_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_constrain_LDADD = constrain/libfkconstrain.la $(JANSSON_LIBS)

# Forced tool calls on both cores (the native engine's masks, llama-server's
# grammar) all parse and validate, with the tiny random-weight model.
TESTS += tests/integration/constrained_calls.mjs
EXTRA_DIST += tests/integration/constrained_calls.mjs tests/bench/bench_constrain.mjs

FUZZERS += tests/fuzz/fuzz_constrain
tests_fuzz_fuzz_constrain_SOURCES = tests/fuzz/fuzz_constrain.c tests/unit/pda_complete.h \
	tests/unit/ref_validator.h
tests_fuzz_fuzz_constrain_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_constrain_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_constrain_LDADD = constrain/libfkconstrain.la $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/constrain
