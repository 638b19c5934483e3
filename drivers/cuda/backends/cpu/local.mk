# drivers/cuda/backends/cpu/: the CPU backend (reference and fallback) and
# the thread pool its kernels run on.
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/backends/cpu/backend_cpu.c \
	drivers/cuda/backends/cpu/cpu_features.h drivers/cuda/backends/cpu/cpu_features.c \
	drivers/cuda/backends/cpu/matmul_kernels.h drivers/cuda/backends/cpu/matmul_avx512.c \
	drivers/cuda/backends/cpu/matmul_amx.c drivers/cuda/backends/cpu/mxfp4_avx512.h \
	drivers/cuda/backends/cpu/attention_avx512.h drivers/cuda/backends/cpu/attention_avx512.c \
	drivers/cuda/backends/cpu/threadpool.h drivers/cuda/backends/cpu/threadpool.c

# Every kernel level the CPU runs against naive loops, thread counts, one-hot rows.
check_PROGRAMS += tests/unit/test_cpu_kernels
TESTS += tests/unit/test_cpu_kernels
tests_unit_test_cpu_kernels_SOURCES = tests/unit/test_cpu_kernels.c tests/unit/rand_ops.h
tests_unit_test_cpu_kernels_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# Each kernel level's matmul on the 20b shapes, and the engine against llama.cpp.
noinst_PROGRAMS += tests/bench/bench_matmul
tests_bench_bench_matmul_SOURCES = tests/bench/bench_matmul.c tests/bench/bench_util.h
tests_bench_bench_matmul_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/bench/bench_vs_llamacpp.sh
