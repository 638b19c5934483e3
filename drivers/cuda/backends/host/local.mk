# drivers/cuda/backends/host/: what the backends on host memory (cpu, ref)
# share, written once: their memory ops and the router's choice of experts.
drivers_cuda_libfkengine_la_SOURCES += drivers/cuda/backends/host/host_memory.h \
	drivers/cuda/backends/host/host_memory.c drivers/cuda/backends/host/route_pick.h \
	drivers/cuda/backends/host/route_pick.c
