# gateway: fk-gateway, its library, the scripted test driver, tests, fuzzers.

# Everything but main() is a convenience library, so unit tests and fuzzers
# can link the parts they exercise.
noinst_LTLIBRARIES += gateway/libfkgateway.la
gateway_libfkgateway_la_SOURCES = \
	gateway/log.h gateway/log.c \
	gateway/dotenv.h gateway/dotenv.c \
	gateway/gateway_config.h gateway/gateway_config.c \
	gateway/driver_loader.h gateway/driver_loader.c \
	gateway/host.h gateway/host.c \
	gateway/router.h gateway/router.c \
	gateway/gateway.h gateway/clock.c \
	gateway/utf8.h gateway/utf8.c gateway/logprobs.h gateway/logprobs.c \
	gateway/openai_errors.h gateway/openai_errors.c \
	gateway/request.h gateway/request.c \
	gateway/special_text.h gateway/special_text.c \
	gateway/sse.h gateway/sse.c \
	gateway/metrics.h gateway/metrics.c \
	gateway/server.h gateway/server.c \
	gateway/http_guard.h gateway/http_guard.c \
	gateway/conn.h gateway/conn.c \
	gateway/job.h gateway/job.c gateway/endpoint.h gateway/endpoint.c \
	gateway/chat.c gateway/completions.c gateway/models.c gateway/health.c \
	gateway/response_store.h gateway/response_store.c gateway/responses.c \
	gateway/statslog.c gateway/shutdown.c gateway/slot.c gateway/cores.c \
	gateway/watch.c gateway/version.c gateway/page.c
gateway_libfkgateway_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
gateway_libfkgateway_la_LIBADD = harmony/libfkharmony.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)

bin_PROGRAMS += gateway/fk-gateway
gateway_fk_gateway_SOURCES = gateway/main.c
gateway_fk_gateway_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
gateway_fk_gateway_LDADD = gateway/libfkgateway.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)

# The scripted driver (also built with smaller ABI structs, for the size
# rules) and two broken ones, for tests only (never installed).
FK_TEST_DRIVER_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += tests/scripted-driver/fk-driver-scripted.la \
	tests/scripted-driver/fk-driver-scripted-small.la \
	tests/scripted-driver/fk-driver-badabi.la tests/scripted-driver/fk-driver-nosym.la
tests_scripted_driver_fk_driver_scripted_la_SOURCES = tests/scripted-driver/scripted.c
tests_scripted_driver_fk_driver_scripted_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_scripted_driver_fk_driver_scripted_la_LDFLAGS = $(FK_TEST_DRIVER_LDFLAGS)
tests_scripted_driver_fk_driver_scripted_la_LIBADD = $(JANSSON_LIBS)
tests_scripted_driver_fk_driver_scripted_small_la_SOURCES = tests/scripted-driver/scripted.c
tests_scripted_driver_fk_driver_scripted_small_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) \
	-DSCRIPTED_SMALL_STRUCTS
tests_scripted_driver_fk_driver_scripted_small_la_LDFLAGS = $(FK_TEST_DRIVER_LDFLAGS)
tests_scripted_driver_fk_driver_scripted_small_la_LIBADD = $(JANSSON_LIBS)
tests_scripted_driver_fk_driver_badabi_la_SOURCES = tests/scripted-driver/badabi.c
tests_scripted_driver_fk_driver_badabi_la_LDFLAGS = $(FK_TEST_DRIVER_LDFLAGS)
tests_scripted_driver_fk_driver_nosym_la_SOURCES = tests/scripted-driver/nosym.c
tests_scripted_driver_fk_driver_nosym_la_LDFLAGS = $(FK_TEST_DRIVER_LDFLAGS)

# Tests: unit (C), integration (node + the real gateway), SSE framing (curl).
EXTRA_DIST += tests/integration/lib.mjs tests/integration/gateway_openai.mjs \
	tests/integration/gateway_cancel.mjs tests/integration/gateway_badinput.mjs \
	tests/integration/gateway_lifecycle.mjs tests/integration/gateway_stress.mjs \
	tests/integration/gateway_http.mjs tests/integration/gateway_conn_release.mjs \
	tests/integration/gateway_abi.mjs tests/integration/gateway_cores.mjs tests/gateway_sse.sh \
	tests/integration/gateway_responses.mjs tests/integration/agents_sdk.mjs
TESTS += tests/integration/gateway_openai.mjs tests/integration/gateway_cancel.mjs \
	tests/integration/gateway_badinput.mjs tests/integration/gateway_lifecycle.mjs \
	tests/integration/gateway_stress.mjs tests/integration/gateway_abi.mjs \
	tests/integration/gateway_cores.mjs tests/gateway_sse.sh tests/integration/gateway_http.mjs \
	tests/integration/gateway_conn_release.mjs tests/integration/gateway_responses.mjs \
	tests/integration/agents_sdk.mjs

check_PROGRAMS += tests/unit/test_dotenv tests/unit/test_gateway_config tests/unit/test_lossy \
	tests/unit/test_response_store tests/unit/test_request
TESTS += tests/unit/test_dotenv tests/unit/test_gateway_config tests/unit/test_lossy \
	tests/unit/test_response_store tests/unit/test_request
tests_unit_test_dotenv_SOURCES = tests/unit/test_dotenv.c
tests_unit_test_dotenv_LDADD = gateway/libfkgateway.la
tests_unit_test_gateway_config_SOURCES = tests/unit/test_gateway_config.c
tests_unit_test_gateway_config_LDADD = gateway/libfkgateway.la
tests_unit_test_lossy_SOURCES = tests/unit/test_lossy.c
tests_unit_test_lossy_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_lossy_LDADD = gateway/libfkgateway.la $(JANSSON_LIBS)
tests_unit_test_response_store_SOURCES = tests/unit/test_response_store.c
tests_unit_test_response_store_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_response_store_LDADD = gateway/libfkgateway.la $(JANSSON_LIBS)
tests_unit_test_request_SOURCES = tests/unit/test_request.c
tests_unit_test_request_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_request_LDADD = gateway/libfkgateway.la $(JANSSON_LIBS)

# The framing guard alone, and the real gateway under thousands of idle connections.
check_PROGRAMS += tests/unit/test_http_guard tests/unit/test_gateway_conns
TESTS += tests/unit/test_http_guard tests/unit/test_gateway_conns
tests_unit_test_http_guard_SOURCES = tests/unit/test_http_guard.c
tests_unit_test_http_guard_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_http_guard_LDADD = gateway/libfkgateway.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)
tests_unit_test_gateway_conns_SOURCES = tests/unit/test_gateway_conns.c

FUZZERS += tests/fuzz/fuzz_request tests/fuzz/fuzz_dotenv tests/fuzz/fuzz_http_guard
tests_fuzz_fuzz_http_guard_SOURCES = tests/fuzz/fuzz_http_guard.c gateway/http_guard.c \
	gateway/openai_errors.c gateway/utf8.c
tests_fuzz_fuzz_http_guard_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_http_guard_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_http_guard_LDADD = harmony/libfkharmony.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_request_SOURCES = tests/fuzz/fuzz_request.c gateway/request.c \
	gateway/openai_errors.c gateway/utf8.c gateway/special_text.c
tests_fuzz_fuzz_request_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_request_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_request_LDADD = harmony/libfkharmony.la $(JANSSON_LIBS)
tests_fuzz_fuzz_dotenv_SOURCES = tests/fuzz/fuzz_dotenv.c gateway/dotenv.c \
	gateway/gateway_config.c gateway/log.c harmony/strbuf.c
tests_fuzz_fuzz_dotenv_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_dotenv_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
EXTRA_DIST += tests/fuzz/corpus/request tests/fuzz/corpus/dotenv tests/fuzz/fuzz_request.dict \
	tests/fuzz/corpus/http_guard

# Benchmark (not a test): tests/bench/bench_gateway.sh drives this generator.
noinst_PROGRAMS += tests/bench/bench_gateway
tests_bench_bench_gateway_SOURCES = tests/bench/bench_gateway.c tests/bench/bench_util.h
EXTRA_DIST += tests/bench/bench_gateway.sh
EXTRA_DIST += gateway/README.md

# The documented example configurations, installed beside the tokenizer data
# (fk-gateway --help points at them).
dist_pkgdata_DATA += conf/llama.env conf/vllm.env

# The chat page (GET /, see page.c): static files, installed beside the
# tokenizer data; tests read them from the source tree (FK_WEB_DIR) and drive
# them in headless Chromium.
webdir = $(pkgdatadir)/web
dist_web_DATA = gateway/web/index.html gateway/web/app.js gateway/web/app.css
TESTS += tests/integration/page.mjs
EXTRA_DIST += tests/integration/page.mjs
clean-local: clean-screenshots
clean-screenshots:
	rm -rf tests/screenshots
.PHONY: clean-screenshots
