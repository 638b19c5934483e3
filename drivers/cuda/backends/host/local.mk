# drivers/cuda/backends/host/: what the backends on host memory (cpu, ref)
# share: their memory ops, written once.
drivers_cuda_libfkengine_la_SOURCES += drivers/cuda/backends/host/host_memory.h \
	drivers/cuda/backends/host/host_memory.c
