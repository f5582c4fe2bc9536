/*
 * blas_core.c -- OpenBLAS's kernels for a CPU it does not know
 *
 * A DYNAMIC_ARCH build of OpenBLAS (Debian's, for one) picks its kernels at
 * load time from the CPU model.  A release older than the CPU falls back to
 * "Prescott", a 2004 core: SSE3 kernels without AVX or FMA.  OpenBLAS 0.3.21
 * (Debian 12) does so on Intel's Emerald Rapids (family 6, model 207), where
 * a 128 x 128 x 256 sgemm then runs at 16 GFLOP/s on one thread instead of
 * 74 with the Cooperlake kernels the CPU can run: NCF training spent most
 * of its time in sgemm because of it (docs/performance.md, "NCF training").
 *
 * So at load (_PG_init, before any BLAS call of recs) recs asks OpenBLAS
 * which core it chose; when that is the Prescott fallback on a CPU that the
 * OS lets use AVX-512 (or AVX2, or AVX), it has OpenBLAS choose again, the
 * way OPENBLAS_CORETYPE would have at load: the newest kernel family the
 * CPU's features allow.  Nothing changes when OPENBLAS_CORETYPE is set (the
 * administrator decided), when OpenBLAS chose anything else, or when the
 * BLAS is not a DYNAMIC_ARCH OpenBLAS (its entry points are looked up, not
 * linked: another BLAS lacks them).  The choice is per process and made
 * once; it changes float rounding, not results beyond it.
 */
#include "postgres.h"

#include <dlfcn.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "blas_core.h"

typedef char *(*CorenameFn) (void);
typedef void (*VoidFn) (void);

/* the OpenBLAS core name in force, or "unknown" (not OpenBLAS) */
const char *
recs_blas_core(void)
{
	CorenameFn corename = (CorenameFn) dlsym(RTLD_DEFAULT, "openblas_get_corename");
	const char *name = corename ? corename() : NULL;

	return name ? name : "unknown";
}

#if defined(__x86_64__)
/* the newest OpenBLAS x86-64 kernel family this CPU and OS can run */
static const char *
best_core(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	__builtin_cpu_init();
	/* __builtin_cpu_supports checks that the OS saves the wide registers */
	if (__builtin_cpu_supports("avx512f"))
	{
		/* CPUID leaf 7, sub-leaf 1, EAX bit 5: AVX512_BF16 */
		if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)))
			return "Cooperlake";
		return "SkylakeX";
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
	if (__builtin_cpu_supports("avx"))
		return "Sandybridge";
	return NULL;
}
#endif

void
recs_blas_pick_core(void)
{
#if defined(__x86_64__)
	VoidFn		quit = (VoidFn) dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
	VoidFn		init = (VoidFn) dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
	const char *want;

	if (quit == NULL || init == NULL || getenv("OPENBLAS_CORETYPE") != NULL)
		return;
	if (strcmp(recs_blas_core(), "Prescott") != 0)
		return;
	want = best_core();
	if (want == NULL)
		return;
	/* gotoblas_dynamic_init reads OPENBLAS_CORETYPE, as at load */
	if (setenv("OPENBLAS_CORETYPE", want, 0) != 0)
		return;
	quit();
	init();
	unsetenv("OPENBLAS_CORETYPE");
#endif
}
