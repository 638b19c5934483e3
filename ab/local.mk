# ab/: fk-ab, the A/B comparison of two endpoints (libcurl, jansson; prompts
# rendered and tokenized by libfkharmony and libfktok as the gateway does).
bin_PROGRAMS += ab/fk-ab
ab_fk_ab_SOURCES = ab/ab.h ab/main.c ab/chats.c ab/client.c ab/compare.c \
	ab/report_text.c ab/report_html.c
ab_fk_ab_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) $(JANSSON_CFLAGS)
ab_fk_ab_LDADD = harmony/libfkharmony.la tokenizer/libfktok.la $(LIBCURL_LIBS) $(JANSSON_LIBS) \
	$(PCRE2_LIBS) -lm

# fk-ab against gateways on the stand-in llama-server, the native engine and
# the real llama-server (skipped, saying why, when it is not built).
TESTS += tests/integration/ab.mjs
EXTRA_DIST += tests/integration/ab.mjs

# The comparison alone, on runs built by hand.
check_PROGRAMS += tests/unit/test_ab
TESTS += tests/unit/test_ab
tests_unit_test_ab_SOURCES = tests/unit/test_ab.c ab/ab.h ab/compare.c
tests_unit_test_ab_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_ab_LDADD = harmony/libfkharmony.la tokenizer/libfktok.la $(JANSSON_LIBS) \
	$(PCRE2_LIBS) -lm
