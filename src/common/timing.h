/*
 * timing.h -- the clocks trainers report in their metrics
 *
 * Wall-clock seconds from a monotonic clock (safe in worker threads: no
 * PostgreSQL calls), CPU seconds of this process (all its threads), and
 * what the rest of the machine used meanwhile, for judging a timing.
 */
#ifndef RECS_TIMING_H
#define RECS_TIMING_H

/* monotonic wall-clock seconds (an arbitrary origin: subtract two readings) */
extern double recs_clock_seconds(void);
/* user + system CPU seconds of this process, all threads */
extern double recs_cpu_seconds(void);
/*
 * CPU seconds used on the whole machine minus those of this process (Linux
 * /proc/stat); NaN where that cannot be read.  Backend thread only.
 */
extern double recs_foreign_cpu_seconds(void);

#endif							/* RECS_TIMING_H */
