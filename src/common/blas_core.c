/*
 * blas_core.c -- which OpenBLAS kernel family the process uses
 *
 * A DYNAMIC_ARCH build of OpenBLAS (Debian's, for one) picks its kernels at
 * load time from the CPU model.  A release older than the CPU falls back to
 * "Prescott", a 2004 core: SSE3 kernels without AVX or FMA.  OpenBLAS 0.3.21
 * (Debian 12) does so on Intel's Emerald Rapids (family 6, model 207), where
 * a 128 x 128 x 256 sgemm then runs at 16 GFLOP/s on one thread instead of
 * 74 with the Cooperlake kernels the CPU can run (docs/ncf.md, "OpenBLAS's
 * kernels").  The remedy is OpenBLAS's own: OPENBLAS_CORETYPE in the
 * server's environment, read when the library loads (README, "Installation").
 * recs does not switch kernels in a running process: OpenBLAS sizes its
 * state for the core it chose at load.  It records the kernels each NCF
 * model was trained with (metrics->>'blas_core'), so a slow training on
 * the fallback shows.
 */
#include "postgres.h"

#include <dlfcn.h>

#include "blas_core.h"

typedef char *(*CorenameFn) (void);

/* the OpenBLAS core name in force, or "unknown" (not OpenBLAS) */
const char *
recs_blas_core(void)
{
	CorenameFn	corename = (CorenameFn) dlsym(RTLD_DEFAULT, "openblas_get_corename");
	const char *name = corename ? corename() : NULL;

	return name ? name : "unknown";
}
