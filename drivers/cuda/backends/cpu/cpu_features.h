/* cpu_features.h: which matmul kernels this CPU can run, found at run time
 * (CPUID, XGETBV, and the kernel's permission for AMX tile data), and the
 * process-wide choice among them.
 *
 * Levels, each a superset of the one before:
 *   generic  backend_cpu.c's vector-extension tiles (whatever the compiler
 *            targets: AVX2 with -march=native on such a machine); any CPU.
 *   avx512   AVX-512F/BW/VL/DQ kernels (matmul_avx512.c), float32 arithmetic
 *            as the generic level (Intel Skylake-SP and later, AMD Zen 4).
 *   amx      AMX-BF16 tiles (matmul_amx.c) with each activation split into
 *            two bf16 parts (hi + lo), plus AVX512-BF16 (Intel Sapphire
 *            Rapids and later).
 * The kernels are compiled with target attributes, so one build runs on every
 * x86-64 CPU and picks the best level it has. */
#ifndef FK_CPU_FEATURES_H
#define FK_CPU_FEATURES_H

#include <stddef.h>

typedef enum fk_cpu_level {
    FK_CPU_GENERIC = 0, /* portable C */
    FK_CPU_AVX512,      /* AVX-512 float32 kernels */
    FK_CPU_AMX,         /* AMX-BF16 kernels */
} fk_cpu_level;

/* The highest level this CPU and OS allow. The first call asks the kernel
 * for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM); AMX counts only when
 * that is granted. Thread-safe. */
fk_cpu_level fk_cpu_best(void);

/* "generic", "avx512", "amx". */
const char *fk_cpu_level_name(fk_cpu_level level);

/* The level CPU backends created from now on use: FK_CPU_KERNELS's value
 * ("auto" or empty: fk_cpu_best(); else a level name, which must not exceed
 * fk_cpu_best()). 0, or -1 with err for an unknown name or a level this CPU
 * cannot run. Call before creating a backend (not thread-safe against it). */
int fk_cpu_kernels_choose(const char *name, char *err, size_t err_len);

/* The chosen level (fk_cpu_best() when nothing was chosen). */
fk_cpu_level fk_cpu_kernels(void);

#endif
