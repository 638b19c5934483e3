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
