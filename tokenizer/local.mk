# tokenizer: libfktok (byte-level BPE for the o200k family) and fk-tokenize.
noinst_LTLIBRARIES += tokenizer/libfktok.la
tokenizer_libfktok_la_SOURCES = tokenizer/fktok.h tokenizer/fktok_internal.h \
	tokenizer/fktok.c tokenizer/vocab.c tokenizer/bytelevel.c tokenizer/bpe.c \
	tokenizer/encode.c tokenizer/decode.c tokenizer/load_tiktoken.c tokenizer/load_json.c \
	tokenizer/json_scan.h tokenizer/json_scan.c tokenizer/segments.h tokenizer/segments.c
tokenizer_libfktok_la_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)
tokenizer_libfktok_la_LIBADD = $(PCRE2_LIBS) $(JANSSON_LIBS)

# The bundled o200k_base ranks: fktok_load_default reads them from
# $(pkgdatadir) once installed, from $FK_TOKENIZER_DATA in the build tree.
dist_pkgdata_DATA += tokenizer/data/o200k_base.tiktoken

bin_PROGRAMS += tokenizer/fk-tokenize
tokenizer_fk_tokenize_SOURCES = tokenizer/fk-tokenize.c
tokenizer_fk_tokenize_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tokenizer_fk_tokenize_LDADD = tokenizer/libfktok.la $(JANSSON_LIBS)

check_PROGRAMS += tests/unit/test_tokenizer
TESTS += tests/unit/test_tokenizer
tests_unit_test_tokenizer_SOURCES = tests/unit/test_tokenizer.c
tests_unit_test_tokenizer_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_tokenizer_LDADD = tokenizer/libfktok.la $(JANSSON_LIBS)
TESTS += tests/tokenizer_cases.sh
EXTRA_DIST += tests/tokenizer_cases.sh

# Benchmark (not a test): tests/bench/bench_tokenizer.sh BUILDDIR runs libfktok
# and js-tiktoken on the same corpus.
noinst_PROGRAMS += tests/bench/bench_tokenizer
tests_bench_bench_tokenizer_SOURCES = tests/bench/bench_tokenizer.c tests/bench/bench_util.h
tests_bench_bench_tokenizer_LDADD = tokenizer/libfktok.la
EXTRA_DIST += tests/bench/bench_tokenizer.sh tests/bench/bench_tokenizer.mjs

# Fuzz targets (clang, --enable-fuzzers): ./tests/fuzz/fuzz_NAME CORPUSDIR.
# They compile the library sources themselves so that libFuzzer's coverage
# instrumentation reaches the tokenizer code.
FUZZERS += tests/fuzz/fuzz_tokenizer_json tests/fuzz/fuzz_tokenize
tests_fuzz_fuzz_tokenizer_json_SOURCES = tests/fuzz/fuzz_tokenizer_json.c $(tokenizer_libfktok_la_SOURCES)
tests_fuzz_fuzz_tokenizer_json_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_tokenizer_json_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_tokenizer_json_LDADD = $(PCRE2_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_tokenize_SOURCES = tests/fuzz/fuzz_tokenize.c $(tokenizer_libfktok_la_SOURCES)
tests_fuzz_fuzz_tokenize_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer \
	-DFK_SRC_TOKENIZER_DATA='"$(abs_top_srcdir)/tokenizer/data"'
tests_fuzz_fuzz_tokenize_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_tokenize_LDADD = $(PCRE2_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/tokenizer_json tests/fuzz/corpus/tokenize

check_PROGRAMS += tests/unit/test_segments
TESTS += tests/unit/test_segments
tests_unit_test_segments_SOURCES = tests/unit/test_segments.c
tests_unit_test_segments_LDADD = drivers/libfkprompt.la tokenizer/libfktok.la $(JANSSON_LIBS)
