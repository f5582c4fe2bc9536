/*
 * ncf_pool.h -- a fork-join pool of worker threads for the NCF trainer
 *
 * ncf_pool_start() starts nthreads - 1 workers; ncf_pool_run() runs
 * fn(arg, th, phase) on every thread th (0 is the caller's) and returns
 * when all are done; ncf_pool_stop() joins them.  fn must not call into
 * PostgreSQL (ncf_pool.c says why).
 */
#ifndef RECS_NCF_POOL_H
#define RECS_NCF_POOL_H

#include <pthread.h>

#define NCF_MAX_THREADS 64

typedef struct NcfPool
{
	int			nthreads;
	int			nstarted;		/* workers running (nthreads - 1 unless starting failed) */
	pthread_t	tid[NCF_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t start_cv;
	pthread_cond_t done_cv;
	int			gen;			/* phase generation: a new value starts a phase */
	int			pending;		/* workers still in the phase */
	int			phase;
	bool		quit;
	void		(*fn) (void *arg, int th, int phase);
	void	   *arg;
} NcfPool;

typedef struct NcfPoolWorker
{
	NcfPool    *pool;
	int			th;
} NcfPoolWorker;

/* start the workers (check pool->nstarted: fewer may have started) */
extern void ncf_pool_start(NcfPool *pool, NcfPoolWorker *workers, int nthreads,
						   void (*fn) (void *, int, int), void *arg);
extern void ncf_pool_run(NcfPool *pool, int phase);
extern void ncf_pool_stop(NcfPool *pool);

#endif							/* RECS_NCF_POOL_H */
