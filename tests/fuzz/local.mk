# tests/fuzz/: every fuzz target's seed corpus replayed by `make check` with
# the normal compiler (no clang, no libFuzzer): replay_NAME is fuzz_NAME.c
# with tests/fuzz/replay.c as its main(), fed tests/fuzz/corpus/NAME and
# deterministic mutants of each seed (see replay.c). The fuzz targets
# themselves are defined beside the code they test (FUZZERS in each local.mk);
# this fragment is included after those.

FUZZ_REPLAYS = tests/fuzz/replay_config tests/fuzz/replay_dotenv \
	tests/fuzz/replay_harmony_parser tests/fuzz/replay_llama_stream tests/fuzz/replay_request \
	tests/fuzz/replay_safetensors tests/fuzz/replay_scanner tests/fuzz/replay_schema \
	tests/fuzz/replay_stopstr tests/fuzz/replay_tokenize tests/fuzz/replay_tokenizer_json \
	tests/fuzz/replay_http_guard tests/fuzz/replay_constrain
check_PROGRAMS += $(FUZZ_REPLAYS)
TESTS += $(FUZZ_REPLAYS)
EXTRA_DIST += tests/fuzz/replay.c
CLEANFILES += replay-*-failed-*.bin

tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c \
	drivers/cuda/checkpoint/config.c tests/fuzz/replay.c
tests_fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"config"'
tests_fuzz_replay_config_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_config_LDADD = $(JANSSON_LIBS) -lm
tests_fuzz_replay_dotenv_SOURCES = tests/fuzz/fuzz_dotenv.c tests/fuzz/replay.c
tests_fuzz_replay_dotenv_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"dotenv"'
tests_fuzz_replay_dotenv_LDADD = gateway/libfkgateway.la
tests_fuzz_replay_harmony_parser_SOURCES = tests/fuzz/fuzz_harmony_parser.c \
	tests/fuzz/replay.c
tests_fuzz_replay_harmony_parser_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"harmony_parser"'
tests_fuzz_replay_harmony_parser_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_harmony_parser_LDADD = $(HARMONY_TEST_LDADD)
tests_fuzz_replay_llama_stream_SOURCES = tests/fuzz/fuzz_llama_stream.c \
	$(LLAMA_DRIVER_SOURCES) tests/fuzz/replay.c
tests_fuzz_replay_llama_stream_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"llama_stream"'
tests_fuzz_replay_llama_stream_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_llama_stream_LDADD = $(tests_fuzz_fuzz_llama_stream_LDADD)
tests_fuzz_replay_request_SOURCES = tests/fuzz/fuzz_request.c tests/fuzz/replay.c
tests_fuzz_replay_request_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"request"'
tests_fuzz_replay_request_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_request_LDADD = gateway/libfkgateway.la $(JANSSON_LIBS)
tests_fuzz_replay_safetensors_SOURCES = $(tests_fuzz_fuzz_safetensors_SOURCES) tests/fuzz/replay.c
tests_fuzz_replay_safetensors_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"safetensors"'
tests_fuzz_replay_safetensors_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_safetensors_LDADD = $(JANSSON_LIBS)
tests_fuzz_replay_scanner_SOURCES = tests/fuzz/fuzz_scanner.c tests/fuzz/replay.c
tests_fuzz_replay_scanner_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"scanner"'
tests_fuzz_replay_scanner_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_scanner_LDADD = $(HARMONY_TEST_LDADD)
tests_fuzz_replay_schema_SOURCES = tests/fuzz/fuzz_schema.c tests/fuzz/replay.c
tests_fuzz_replay_schema_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"schema"'
tests_fuzz_replay_schema_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_schema_LDADD = $(HARMONY_TEST_LDADD)
tests_fuzz_replay_stopstr_SOURCES = $(tests_fuzz_fuzz_stopstr_SOURCES) tests/fuzz/replay.c
tests_fuzz_replay_stopstr_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"stopstr"'
tests_fuzz_replay_tokenize_SOURCES = tests/fuzz/fuzz_tokenize.c tests/fuzz/replay.c
tests_fuzz_replay_tokenize_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"tokenize"'
tests_fuzz_replay_tokenize_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS) \
	-DFK_SRC_TOKENIZER_DATA='"$(abs_top_srcdir)/tokenizer/data"'
tests_fuzz_replay_tokenize_LDADD = tokenizer/libfktok.la
tests_fuzz_replay_tokenizer_json_SOURCES = tests/fuzz/fuzz_tokenizer_json.c \
	tests/fuzz/replay.c
tests_fuzz_replay_tokenizer_json_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"tokenizer_json"'
tests_fuzz_replay_tokenizer_json_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_tokenizer_json_LDADD = tokenizer/libfktok.la
tests_fuzz_replay_http_guard_SOURCES = tests/fuzz/fuzz_http_guard.c gateway/http_guard.c \
	gateway/openai_errors.c gateway/utf8.c tests/fuzz/replay.c
tests_fuzz_replay_http_guard_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"http_guard"'
tests_fuzz_replay_http_guard_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_http_guard_LDADD = harmony/libfkharmony.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)
tests_fuzz_replay_constrain_SOURCES = tests/fuzz/fuzz_constrain.c tests/fuzz/replay.c
tests_fuzz_replay_constrain_CPPFLAGS = $(AM_CPPFLAGS) -DFK_FUZZ_NAME='"constrain"'
tests_fuzz_replay_constrain_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_constrain_LDADD = constrain/libfkconstrain.la $(JANSSON_LIBS)

# Every fuzz target has its replay: a new fuzz_NAME.c without one fails here.
TESTS += tests/fuzz/replays_cover.sh
EXTRA_DIST += tests/fuzz/replays_cover.sh
