/*
 * timing.c -- wall clock, process CPU and the machine's other CPU use
 *
 * Every trainer times its phases with recs_clock_seconds() (a monotonic
 * clock, unaffected by NTP steps, and cheap enough to call per batch and in
 * the NCF worker threads).  NCF also reports its own CPU seconds and, per
 * epoch, the CPU seconds other processes took meanwhile: a timing is
 * trustworthy when that is near zero (the Python peers measure the same
 * from /proc/stat).
 */
#include "postgres.h"

#include <math.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "storage/fd.h"

#include "timing.h"

double
recs_clock_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double
recs_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

double
recs_foreign_cpu_seconds(void)
{
	FILE	   *f = AllocateFile("/proc/stat", "r");
	unsigned long long v[8] = {0};
	long		hz = sysconf(_SC_CLK_TCK);

	if (f == NULL)
		return NAN;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8 || hz <= 0)
	{
		FreeFile(f);
		return NAN;
	}
	FreeFile(f);
	/* user, nice, system, irq, softirq, steal: busy; idle and iowait are not */
	return (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz - recs_cpu_seconds();
}
