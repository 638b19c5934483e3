# harmony/: the parser half of libfkharmony (the renderer half is render.mk):
# streaming parser, text scanner, OpenAI response mapping, fk-harmony-check,
# and their tests, fuzzers and benchmark.
harmony_libfkharmony_la_SOURCES += harmony/utf8.h harmony/utf8.c harmony/parser.c \
	harmony/scanner.c harmony/openai_response.c

HARMONY_TEST_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)

check_PROGRAMS += tests/unit/test_harmony_parse tests/unit/test_scanner \
	tests/unit/test_openai_response
TESTS += tests/unit/test_harmony_parse tests/unit/test_scanner tests/unit/test_openai_response
tests_unit_test_harmony_parse_SOURCES = tests/unit/test_harmony_parse.c
tests_unit_test_harmony_parse_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_harmony_parse_LDADD = $(HARMONY_TEST_LDADD)
tests_unit_test_scanner_SOURCES = tests/unit/test_scanner.c
tests_unit_test_scanner_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_scanner_LDADD = $(HARMONY_TEST_LDADD)
tests_unit_test_openai_response_SOURCES = tests/unit/test_openai_response.c
tests_unit_test_openai_response_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_openai_response_LDADD = $(HARMONY_TEST_LDADD)

# fk-harmony-check: every render and parse vector under the given directories.
bin_PROGRAMS += harmony/fk-harmony-check
harmony_fk_harmony_check_SOURCES = harmony/check/main.c harmony/check/parse_vectors.c \
	harmony/check/render_vectors.c harmony/check/check.h
harmony_fk_harmony_check_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
harmony_fk_harmony_check_LDADD = harmony/libfkharmony.la tokenizer/libfktok.la $(JANSSON_LIBS)
TESTS += tests/harmony_check.sh
EXTRA_DIST += tests/harmony_check.sh

# Render -> parse property test (needs the renderer half).
check_PROGRAMS += tests/unit/test_harmony_roundtrip
TESTS += tests/unit/test_harmony_roundtrip
tests_unit_test_harmony_roundtrip_SOURCES = tests/unit/test_harmony_roundtrip.c
tests_unit_test_harmony_roundtrip_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_harmony_roundtrip_LDADD = $(HARMONY_TEST_LDADD)
