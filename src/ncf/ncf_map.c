/*
 * ncf_map.c -- recs.course_map(): a 2-D map of an NCF model's course embeddings
 *
 * Principal component analysis: centre the embeddings, form their d x d
 * covariance (in double, d is small), take its two leading eigenvectors
 * with LAPACK's dsyev (OpenBLAS ships LAPACK; there is no lapacke.h to rely
 * on, so the Fortran prototype is declared here, hidden string lengths
 * included) and project every course on them.  Each axis's sign is fixed so
 * that its largest loading is positive: the same model always draws the
 * same map.  recs.course_map_svg() (SQL, 40_ncf.sql) renders it.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"

#include "ncf.h"

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a,
				   const int *lda, double *w, double *work, const int *lwork,
				   int *info, size_t jobz_len, size_t uplo_len);

PG_FUNCTION_INFO_V1(ncf_course_map);
Datum
ncf_course_map(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServingModel given;
	const NcfCourses *c;
	int			d,
				n,
				info,
				lwork;
	double	   *mean,
			   *cov,
			   *eig,
			   *work,
				wq;
	double	   *axis[2];

	InitMaterializedSRF(fcinfo, 0);
	/* neither model nor slot: no rows (it was STRICT) */
	if (!serving_model_arg(fcinfo, 0, 1, false, &given))
		return (Datum) 0;
	c = ncf_model_courses(&given);
	d = c->dim;
	n = c->n;
	if (d > NCF_MAX_DIM_MAP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("course_map supports embeddings of up to %d dimensions", NCF_MAX_DIM_MAP)));
	mean = palloc0(sizeof(double) * d);
	cov = palloc0(sizeof(double) * d * d);
	eig = palloc(sizeof(double) * d);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
			mean[j] += c->emb[(Size) i * d + j];
	for (int j = 0; j < d; j++)
		mean[j] /= n;
	for (int i = 0; i < n; i++)
	{
		const float *e = c->emb + (Size) i * d;

		if ((i & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int a = 0; a < d; a++)
		{
			double		xa = e[a] - mean[a];

			for (int b = 0; b <= a; b++)
				cov[a * d + b] += xa * (e[b] - mean[b]);
		}
	}
	for (int a = 0; a < d; a++)
		for (int b = 0; b <= a; b++)
		{
			cov[a * d + b] /= Max(n - 1, 1);
			cov[b * d + a] = cov[a * d + b];
		}

	/* workspace query, then the decomposition (eigenvalues ascending) */
	lwork = -1;
	dsyev_("V", "U", &d, cov, &d, eig, &wq, &lwork, &info, 1, 1);
	lwork = Max((int) wq, 3 * d);
	work = palloc(sizeof(double) * lwork);
	dsyev_("V", "U", &d, cov, &d, eig, work, &lwork, &info, 1, 1);
	if (info != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("eigendecomposition of the embedding covariance failed (dsyev info %d)", info)));

	/* column-major: eigenvector k is cov[k*d .. k*d + d), the last two lead */
	axis[0] = palloc0(sizeof(double) * d);
	axis[1] = palloc0(sizeof(double) * d);
	for (int k = 0; k < 2 && k < d; k++)
	{
		const double *v = cov + (Size) (d - 1 - k) * d;
		int			big = 0;

		for (int j = 0; j < d; j++)
			if (fabs(v[j]) > fabs(v[big]))
				big = j;
		for (int j = 0; j < d; j++)
			axis[k][j] = v[big] < 0 ? -v[j] : v[j];
	}
	for (int i = 0; i < n; i++)
	{
		const float *e = c->emb + (Size) i * d;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		double		xy[2] = {0, 0};

		for (int k = 0; k < 2; k++)
			for (int j = 0; j < d; j++)
				xy[k] += (e[j] - mean[j]) * axis[k][j];
		values[0] = Int64GetDatum(c->ids[i]);
		values[1] = Float8GetDatum(xy[0]);
		values[2] = Float8GetDatum(xy[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
