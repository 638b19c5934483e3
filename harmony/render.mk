# harmony/: libfkharmony (convenience library; no dependency on the gateway).
# The renderer half; harmony/parse.mk adds the parser half.
noinst_LTLIBRARIES += harmony/libfkharmony.la
harmony_libfkharmony_la_SOURCES = harmony/harmony.h
harmony_libfkharmony_la_SOURCES += harmony/strbuf.h harmony/strbuf.c harmony/conversation.c \
	harmony/render.c harmony/schema_ts.c harmony/openai_map.h harmony/openai_map.c \
	harmony/openai_request.c harmony/responses_in.c
harmony_libfkharmony_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
harmony_libfkharmony_la_LIBADD = $(JANSSON_LIBS)

# Renderer tests: every render vector through the checker, plus hand cases.
check_PROGRAMS += tests/unit/test_harmony_render tests/unit/test_openai_request
TESTS += tests/unit/test_harmony_render tests/unit/test_openai_request
tests_unit_test_harmony_render_SOURCES = tests/unit/test_harmony_render.c \
	harmony/check/render_vectors.c harmony/check/check.h
tests_unit_test_harmony_render_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_harmony_render_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)
tests_unit_test_openai_request_SOURCES = tests/unit/test_openai_request.c
tests_unit_test_openai_request_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_openai_request_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)

FUZZERS += tests/fuzz/fuzz_schema
tests_fuzz_fuzz_schema_SOURCES = tests/fuzz/fuzz_schema.c
tests_fuzz_fuzz_schema_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_schema_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_schema_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/schema
