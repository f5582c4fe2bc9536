/*
 * ncf_pool.c -- the NCF trainer's fork-join thread pool
 *
 * threads - 1 POSIX threads run only the numeric phases of a training step:
 * no palloc, no elog, no PostgreSQL calls of any kind, all signals blocked
 * (they inherit a fully blocked mask, so signals reach the backend).  The
 * backend's own thread is thread 0 and takes its share of every phase.  A
 * phase is a generation number: the workers spin briefly waiting for the
 * next one, then sleep on a condition variable; the backend likewise spins,
 * then sleeps, until every worker has finished the phase.  The caller stops
 * the pool on every path, errors included (PG_FINALLY), before the error
 * propagates.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ncf_pool.h"

/*
 * Pauses a waiting thread spins before it sleeps: about 35 us (a pause is
 * some 18 ns on a recent Xeon).  A step's phases take milliseconds, so a
 * thread that is not done within that is usually descheduled or simply has
 * more work, and spinning on would only burn CPU time another process (or
 * the other training thread) could use; 20,000 spent up to a fifth of the
 * training's CPU seconds on a loaded machine.
 */
#define POOL_SPIN 2000

static inline void
cpu_relax(void)
{
#if defined(__x86_64__)
	_mm_pause();
#endif
}

static void *
pool_worker(void *p)
{
	NcfPoolWorker *w = p;
	NcfPool    *pool = w->pool;
	int			seen = 0;

	for (;;)
	{
		int			g = seen;

		for (int spin = 0; spin < POOL_SPIN; spin++)
		{
			g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE);
			if (g != seen)
				break;
			cpu_relax();
		}
		if (g == seen)
		{
			pthread_mutex_lock(&pool->mu);
			while ((g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE)) == seen)
				pthread_cond_wait(&pool->start_cv, &pool->mu);
			pthread_mutex_unlock(&pool->mu);
		}
		seen = g;
		if (__atomic_load_n(&pool->quit, __ATOMIC_ACQUIRE))
			return NULL;
		pool->fn(pool->arg, w->th, pool->phase);
		if (__atomic_sub_fetch(&pool->pending, 1, __ATOMIC_ACQ_REL) == 0)
		{
			pthread_mutex_lock(&pool->mu);
			pthread_cond_signal(&pool->done_cv);
			pthread_mutex_unlock(&pool->mu);
		}
	}
}

void
ncf_pool_run(NcfPool *pool, int phase)
{
	int			spin;

	if (pool->nstarted == 0)
	{
		pool->fn(pool->arg, 0, phase);
		return;
	}
	pool->phase = phase;
	__atomic_store_n(&pool->pending, pool->nstarted, __ATOMIC_RELEASE);
	pthread_mutex_lock(&pool->mu);
	__atomic_add_fetch(&pool->gen, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&pool->start_cv);
	pthread_mutex_unlock(&pool->mu);

	pool->fn(pool->arg, 0, phase);

	for (spin = 0; spin < POOL_SPIN; spin++)
	{
		if (__atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) == 0)
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&pool->mu);
	while (__atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) != 0)
		pthread_cond_wait(&pool->done_cv, &pool->mu);
	pthread_mutex_unlock(&pool->mu);
}

void
ncf_pool_start(NcfPool *pool, NcfPoolWorker *workers, int nthreads,
		   void (*fn) (void *, int, int), void *arg)
{
	sigset_t	all,
				old;

	memset(pool, 0, sizeof(*pool));
	pool->nthreads = nthreads;
	pool->fn = fn;
	pool->arg = arg;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->start_cv, NULL);
	pthread_cond_init(&pool->done_cv, NULL);
	/* workers inherit a fully blocked signal mask: signals go to the backend */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int t = 1; t < nthreads; t++)
	{
		workers[t].pool = pool;
		workers[t].th = t;
		if (pthread_create(&pool->tid[t], NULL, pool_worker, &workers[t]) != 0)
			break;
		pool->nstarted++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
ncf_pool_stop(NcfPool *pool)
{
	if (pool->nstarted == 0)
		return;
	pthread_mutex_lock(&pool->mu);
	__atomic_store_n(&pool->quit, true, __ATOMIC_RELEASE);
	__atomic_add_fetch(&pool->gen, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&pool->start_cv);
	pthread_mutex_unlock(&pool->mu);
	for (int t = 1; t <= pool->nstarted; t++)
		pthread_join(pool->tid[t], NULL);
	pool->nstarted = 0;
}
