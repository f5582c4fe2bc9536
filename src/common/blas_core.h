/*
 * blas_core.h -- OpenBLAS's kernel family (blas_core.c)
 */
#ifndef RECS_BLAS_CORE_H
#define RECS_BLAS_CORE_H

/* the OpenBLAS core name in force ("unknown" for another BLAS) */
extern const char *recs_blas_core(void);

#endif							/* RECS_BLAS_CORE_H */
