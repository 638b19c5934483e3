# drivers/cuda/tools/: programs over the engine, installed beside fk-gateway.
# fk-mkmodel: random gpt-oss checkpoints of any dimensions (tests, benchmarks).
bin_PROGRAMS += drivers/cuda/tools/fk-mkmodel
drivers_cuda_tools_fk_mkmodel_SOURCES = drivers/cuda/tools/fk-mkmodel.c
drivers_cuda_tools_fk_mkmodel_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
drivers_cuda_tools_fk_mkmodel_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# fk-golden: the engine against reference logits and greedy continuations.
bin_PROGRAMS += drivers/cuda/tools/fk-golden
drivers_cuda_tools_fk_golden_SOURCES = drivers/cuda/tools/fk-golden.c
drivers_cuda_tools_fk_golden_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# fk-gguf: a GGUF for llama.cpp's llama-server from a checkpoint the engine loads.
bin_PROGRAMS += drivers/cuda/tools/fk-gguf
drivers_cuda_tools_fk_gguf_SOURCES = drivers/cuda/tools/fk-gguf.c \
	drivers/cuda/tools/gguf_writer.h drivers/cuda/tools/gguf_writer.c \
	drivers/cuda/tools/gguf_vocab.h drivers/cuda/tools/gguf_vocab.c \
	drivers/cuda/tools/gguf_gptoss.h drivers/cuda/tools/gguf_gptoss.c
drivers_cuda_tools_fk_gguf_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
drivers_cuda_tools_fk_gguf_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# fk-gguf's proof: llama-server on the GGUF against the native engine
# (native_top1 prints the engine's next-token log-probabilities), and
# llama-server's tokenizer against libfktok. Skipped without a built llama-server.
check_PROGRAMS += tests/integration/native_top1
tests_integration_native_top1_SOURCES = tests/integration/native_top1.c
tests_integration_native_top1_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
TESTS += tests/integration/llama_gguf.mjs
EXTRA_DIST += tests/integration/llama_gguf.mjs tests/integration/real_llama.mjs

# /v1/responses on real models: the native engine and (when built) the real
# llama-server on the tiny checkpoint's GGUF.
TESTS += tests/integration/responses_cores.mjs
EXTRA_DIST += tests/integration/responses_cores.mjs

# fk-gguf's output read back and compared with the checkpoints, and its refusals.
check_PROGRAMS += tests/unit/test_gguf
TESTS += tests/unit/test_gguf
tests_unit_test_gguf_SOURCES = tests/unit/test_gguf.c
tests_unit_test_gguf_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_gguf_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
