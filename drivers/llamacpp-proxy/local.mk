# drivers/llamacpp-proxy: fk-driver-llamacpp.so, the llama.cpp proxy driver
# (libcurl multi on the gateway's libevent loop), its C test host and the
# fake llama-server the tests run against.
pkglib_LTLIBRARIES += drivers/llamacpp-proxy/fk-driver-llamacpp.la
drivers_llamacpp_proxy_fk_driver_llamacpp_la_SOURCES = \
	drivers/llamacpp-proxy/proxy.h drivers/llamacpp-proxy/driver.c \
	drivers/llamacpp-proxy/curl_loop.h drivers/llamacpp-proxy/curl_loop.c \
	drivers/llamacpp-proxy/transfer.h drivers/llamacpp-proxy/transfer.c \
	drivers/llamacpp-proxy/harmony_mode.c drivers/llamacpp-proxy/grammar.c \
	drivers/llamacpp-proxy/passthrough.c \
	drivers/llamacpp-proxy/health.c drivers/llamacpp-proxy/errors.c \
	drivers/llamacpp-proxy/replicas.c \
	drivers/llamacpp-proxy/fast_event.h drivers/llamacpp-proxy/fast_event.c \
	drivers/llamacpp-proxy/seg_cache.h drivers/llamacpp-proxy/seg_cache.c
drivers_llamacpp_proxy_fk_driver_llamacpp_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(LIBCURL_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
drivers_llamacpp_proxy_fk_driver_llamacpp_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-export-symbols-regex '^fk_driver_init$$'
drivers_llamacpp_proxy_fk_driver_llamacpp_la_LIBADD = drivers/libfkprompt.la tokenizer/libfktok.la \
	harmony/libfkharmony.la constrain/libfkconstrain.la \
	$(LIBCURL_LIBS) $(LIBEVENT_LIBS) $(JANSSON_LIBS) $(PCRE2_LIBS)

# The C test host: dlopens the driver, runs it behind the gateway's own host
# services (tests/unit/test_host.h) on its own event_base against the fake
# llama-server (node).
check_PROGRAMS += tests/unit/test_llamacpp_host
TESTS += tests/unit/test_llamacpp_host
tests_unit_test_llamacpp_host_SOURCES = tests/unit/test_llamacpp_host.c \
	tests/unit/test_host.h tests/unit/test_host.c
tests_unit_test_llamacpp_host_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(LIBCURL_CFLAGS)
tests_unit_test_llamacpp_host_LDADD = gateway/libfkgateway.la $(LIBEVENT_LIBS) $(JANSSON_LIBS) \
	$(LIBCURL_LIBS)

EXTRA_DIST += tests/integration/fake-llama-server.mjs

# Through the real fk-gateway with the openai client (Harmony and
# pass-through modes, faults); proxy_fake.mjs is their shared helper.
TESTS += tests/integration/proxy_harmony.mjs tests/integration/proxy_passthrough.mjs \
	tests/integration/proxy_faults.mjs tests/integration/proxy_injection.mjs \
	tests/integration/proxy_responses.mjs
EXTRA_DIST += tests/integration/proxy_fake.mjs tests/integration/proxy_harmony.mjs \
	tests/integration/proxy_passthrough.mjs tests/integration/proxy_faults.mjs \
	tests/integration/proxy_injection.mjs tests/integration/proxy_responses.mjs

# The same driver against the real llama-server (scripts/llama-server.sh; the
# test skips, saying why, when it is not built) on a GGUF from fk-gguf.
TESTS += tests/integration/proxy_real.mjs
EXTRA_DIST += tests/integration/proxy_real.mjs

# logprobs on both cores (native, the stand-in, the real llama-server) against
# the openai package's declarations.
TESTS += tests/integration/logprobs.mjs
EXTRA_DIST += tests/integration/logprobs.mjs

# Replicas (FK_CORE_API_BASE=URL,URL,URL): three stand-ins, then three real
# llama-servers (skipped, saying why, when llama-server is not built). It runs
# after proxy_real.mjs, not beside it: both time real llama-servers on a
# machine with few cores.
TESTS += tests/integration/proxy_replicas.mjs
EXTRA_DIST += tests/integration/proxy_replicas.mjs
tests/integration/proxy_replicas.log: tests/integration/proxy_real.log

# Benchmarks (not tests): direct vs through the gateway, one upstream (the
# stand-in, the real llama-server) or several (replicas); see the files' headers.
EXTRA_DIST += tests/bench/bench_env.mjs tests/bench/bench_proxy.mjs tests/bench/bench_proxy_real.mjs \
	tests/bench/bench_proxy_callgrind.mjs tests/bench/bench_replicas.mjs

# Fuzz target: upstream stream events through the driver's own handlers.
LLAMA_DRIVER_SOURCES = drivers/llamacpp-proxy/driver.c drivers/llamacpp-proxy/curl_loop.c \
	drivers/llamacpp-proxy/transfer.c drivers/llamacpp-proxy/harmony_mode.c \
	drivers/llamacpp-proxy/grammar.c \
	drivers/llamacpp-proxy/passthrough.c drivers/llamacpp-proxy/health.c \
	drivers/llamacpp-proxy/errors.c drivers/llamacpp-proxy/replicas.c \
	drivers/llamacpp-proxy/fast_event.c drivers/llamacpp-proxy/seg_cache.c drivers/prompt.c
FUZZERS += tests/fuzz/fuzz_llama_stream
tests_fuzz_fuzz_llama_stream_SOURCES = tests/fuzz/fuzz_llama_stream.c $(LLAMA_DRIVER_SOURCES)
tests_fuzz_fuzz_llama_stream_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(JANSSON_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_llama_stream_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_llama_stream_LDADD = tokenizer/libfktok.la harmony/libfkharmony.la \
	constrain/libfkconstrain.la \
	$(LIBCURL_LIBS) $(LIBEVENT_LIBS) $(JANSSON_LIBS) $(PCRE2_LIBS)
EXTRA_DIST += tests/fuzz/corpus/llama_stream
EXTRA_DIST += drivers/llamacpp-proxy/README.md
