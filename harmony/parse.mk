# harmony/: the parser half of libfkharmony (the renderer half is render.mk):
# streaming parser, text scanner, OpenAI response mapping, fk-harmony-check,
# and their tests, fuzzers and benchmark.
HARMONY_PARSE_SOURCES = harmony/utf8.h harmony/utf8.c harmony/parser.c harmony/scanner.c \
	harmony/ids.h harmony/ids.c harmony/channels.h harmony/channels.c \
	harmony/openai_response.c harmony/responses_out.c
harmony_libfkharmony_la_SOURCES += $(HARMONY_PARSE_SOURCES)

HARMONY_TEST_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)

check_PROGRAMS += tests/unit/test_harmony_parse tests/unit/test_scanner \
	tests/unit/test_openai_response tests/unit/test_responses
TESTS += tests/unit/test_harmony_parse tests/unit/test_scanner tests/unit/test_openai_response \
	tests/unit/test_responses
tests_unit_test_harmony_parse_SOURCES = tests/unit/test_harmony_parse.c
tests_unit_test_harmony_parse_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_harmony_parse_LDADD = $(HARMONY_TEST_LDADD)
tests_unit_test_scanner_SOURCES = tests/unit/test_scanner.c
tests_unit_test_scanner_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_scanner_LDADD = $(HARMONY_TEST_LDADD)
tests_unit_test_openai_response_SOURCES = tests/unit/test_openai_response.c
tests_unit_test_openai_response_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_openai_response_LDADD = $(HARMONY_TEST_LDADD)
# The Responses API mapping, both directions.
tests_unit_test_responses_SOURCES = tests/unit/test_responses.c
tests_unit_test_responses_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_responses_LDADD = $(HARMONY_TEST_LDADD)

# fk-harmony-check: every render and parse vector under the given directories.
bin_PROGRAMS += harmony/fk-harmony-check
harmony_fk_harmony_check_SOURCES = harmony/check/main.c harmony/check/parse_vectors.c \
	harmony/check/render_vectors.c harmony/check/check.h
harmony_fk_harmony_check_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
harmony_fk_harmony_check_LDADD = harmony/libfkharmony.la tokenizer/libfktok.la $(JANSSON_LIBS)
TESTS += tests/harmony_check.sh
EXTRA_DIST += tests/harmony_check.sh

# Render -> parse property test (needs the renderer half and the tokenizer).
check_PROGRAMS += tests/unit/test_harmony_roundtrip
TESTS += tests/unit/test_harmony_roundtrip
tests_unit_test_harmony_roundtrip_SOURCES = tests/unit/test_harmony_roundtrip.c
tests_unit_test_harmony_roundtrip_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_harmony_roundtrip_LDADD = $(HARMONY_TEST_LDADD) tokenizer/libfktok.la

# Fuzz targets (built with --enable-fuzzers and clang). The sources under test
# are compiled into each target so that libFuzzer sees their coverage.
FUZZERS += tests/fuzz/fuzz_harmony_parser tests/fuzz/fuzz_scanner
tests_fuzz_fuzz_harmony_parser_SOURCES = tests/fuzz/fuzz_harmony_parser.c \
	harmony/strbuf.h harmony/strbuf.c $(HARMONY_PARSE_SOURCES)
tests_fuzz_fuzz_harmony_parser_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_harmony_parser_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_harmony_parser_LDADD = $(JANSSON_LIBS)
tests_fuzz_fuzz_scanner_SOURCES = tests/fuzz/fuzz_scanner.c harmony/strbuf.h harmony/strbuf.c \
	harmony/scanner.c
tests_fuzz_fuzz_scanner_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_scanner_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_scanner_LDADD = $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/harmony_parser tests/fuzz/corpus/scanner

# Benchmark (not a test): tests/bench/bench_harmony_parser [MEGABYTES] [RUNS].
noinst_PROGRAMS += tests/bench/bench_harmony_parser
tests_bench_bench_harmony_parser_SOURCES = tests/bench/bench_harmony_parser.c tests/bench/bench_util.h
tests_bench_bench_harmony_parser_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_harmony_parser_LDADD = $(HARMONY_TEST_LDADD)
