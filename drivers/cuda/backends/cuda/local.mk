# drivers/cuda/backends/cuda/: the CUDA backend (cuda.h). Every build has
# the parts that need no GPU (FK_BACKEND, the op stream and its graph
# bookkeeping, the kernels' shared arithmetic), and their tests run in every
# `make check`; configure --with-cuda adds the backend itself (C with the
# CUDA runtime, and the .cu kernels compiled by nvcc for CUDA_ARCHS), else
# cuda_stub.c answers that this build has no CUDA.
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/backends/cuda/cuda.h drivers/cuda/backends/cuda/select.c \
	drivers/cuda/backends/cuda/kern.h drivers/cuda/backends/cuda/ops.h \
	drivers/cuda/backends/cuda/stream.h drivers/cuda/backends/cuda/stream.c
drivers_cuda_libfkengine_la_CFLAGS += $(CUDA_CFLAGS)

FK_CUDA_KERNELS = drivers/cuda/backends/cuda/kernels.cu drivers/cuda/backends/cuda/gemv.cu \
	drivers/cuda/backends/cuda/attention.cu
FK_CUDA_KERNEL_DEPS = drivers/cuda/backends/cuda/kern.h drivers/cuda/backends/cuda/ops.h \
	drivers/cuda/backends/cuda/kernels.h drivers/cuda/model/backend.h
EXTRA_DIST += $(FK_CUDA_KERNELS) drivers/cuda/backends/cuda/nvcc-lt.sh

if HAVE_CUDA
drivers_cuda_libfkengine_la_SOURCES += \
	drivers/cuda/backends/cuda/cuda_impl.h drivers/cuda/backends/cuda/kernels.h \
	drivers/cuda/backends/cuda/backend_cuda.c drivers/cuda/backends/cuda/ops_cuda.c
FK_CUDA_LOS = $(FK_CUDA_KERNELS:.cu=.lo)
drivers_cuda_libfkengine_la_LIBADD += $(FK_CUDA_LOS) $(CUDA_LIBS)
$(FK_CUDA_LOS): $(FK_CUDA_KERNEL_DEPS) $(top_srcdir)/drivers/cuda/backends/cuda/nvcc-lt.sh
CLEANFILES += $(FK_CUDA_LOS) $(FK_CUDA_KERNELS:.cu=.o)
else
drivers_cuda_libfkengine_la_SOURCES += drivers/cuda/backends/cuda/cuda_stub.c
endif

# nvcc through nvcc-lt.sh: a libtool object per kernel file.
SUFFIXES += .cu
.cu.lo:
	$(AM_V_GEN)$(SHELL) $(top_srcdir)/drivers/cuda/backends/cuda/nvcc-lt.sh $@ \
		$(NVCC) $(NVCC_FLAGS) -I$(top_srcdir) -I$(top_builddir) -c $<

# What needs no GPU: kern.h's arithmetic against the reference, the op
# stream with a fake executor, FK_BACKEND; and the GPU tests, which skip
# (TAP "1..0 # SKIP" with the reason) where no GPU is.
check_PROGRAMS += tests/unit/test_cuda_host tests/unit/test_cuda_ops
TESTS += tests/unit/test_cuda_host tests/unit/test_cuda_ops
tests_unit_test_cuda_host_SOURCES = tests/unit/test_cuda_host.c
tests_unit_test_cuda_host_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
tests_unit_test_cuda_ops_SOURCES = tests/unit/test_cuda_ops.c tests/unit/rand_ops.h
tests_unit_test_cuda_ops_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm

# The GPU run (tests/device/run.sh, by hand on a machine with a GPU): its
# programs are built in every build so they never rot, and exit 77 without
# a GPU.
noinst_PROGRAMS += tests/device/bench_gpu tests/device/compare_backends
tests_device_bench_gpu_SOURCES = tests/device/bench_gpu.c tests/bench/bench_util.h
tests_device_bench_gpu_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
tests_device_compare_backends_SOURCES = tests/device/compare_backends.c
tests_device_compare_backends_LDADD = drivers/cuda/libfkengine.la $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/device/run.sh
