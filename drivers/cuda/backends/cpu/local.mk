# drivers/cuda/backends/cpu/: the CPU backend (reference and fallback) and
# the thread pool its kernels run on.
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/backends/cpu/backend_cpu.c \
	drivers/cuda/backends/cpu/threadpool.h drivers/cuda/backends/cpu/threadpool.c
