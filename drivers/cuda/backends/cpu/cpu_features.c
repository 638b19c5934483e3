/* cpu_features.c: CPUID/XGETBV probing and the kernel level choice. */
#include "cpu_features.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ARCH_REQ_XCOMP_PERM 0x1023 /* asm/prctl.h: ask for an xstate feature */
#define XFEATURE_XTILEDATA 18      /* the AMX tile data state component */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static fk_cpu_level best_level = FK_CPU_GENERIC; /* set once by probe() */
static atomic_int chosen = -1;                   /* -1: nothing chosen (auto) */

#if defined(__x86_64__)
/* The OS-enabled state components (XCR0). */
static unsigned long long xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}

static void probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_FMA)) return;
    unsigned long long xcr = xcr0();
    /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state all enabled by the OS. */
    if ((xcr & 0xE6) != 0xE6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    int avx512 =
        (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (b & bit_AVX512DQ);
    if (!avx512) return;
    best_level = FK_CPU_AVX512;
    int amx = (d & (1u << 24)) && (d & (1u << 22)); /* AMX-TILE, AMX-BF16 */
    unsigned a1, b1, c1, d1;
    int avx512bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 & (1u << 5));
    if (!amx || !avx512bf16 || (xcr & (3ull << 17)) != (3ull << 17)) return;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    best_level = FK_CPU_AMX;
}
#else
static void probe(void) {}
#endif

fk_cpu_level fk_cpu_best(void)
{
    pthread_once(&probe_once, probe);
    return best_level;
}

const char *fk_cpu_level_name(fk_cpu_level level)
{
    switch (level) {
    case FK_CPU_AVX512:
        return "avx512";
    case FK_CPU_AMX:
        return "amx";
    default:
        return "generic";
    }
}

int fk_cpu_kernels_choose(const char *name, char *err, size_t err_len)
{
    fk_cpu_level best = fk_cpu_best();
    if (!name || !*name || strcmp(name, "auto") == 0) {
        chosen = -1;
        return 0;
    }
    for (int l = FK_CPU_GENERIC; l <= FK_CPU_AMX; l++) {
        if (strcmp(name, fk_cpu_level_name((fk_cpu_level)l)) != 0) continue;
        if (l > (int)best) {
            snprintf(err, err_len, "FK_CPU_KERNELS=%s: this CPU runs at most \"%s\"", name,
                     fk_cpu_level_name(best));
            return -1;
        }
        chosen = l;
        return 0;
    }
    snprintf(err, err_len, "FK_CPU_KERNELS=%s: expected auto, amx, avx512 or generic", name);
    return -1;
}

fk_cpu_level fk_cpu_kernels(void)
{
    return chosen < 0 ? fk_cpu_best() : (fk_cpu_level)chosen;
}
