/*
 * glmix_math.c -- the numerics of GLMix: logistic loss, sufficient
 * statistics, Cholesky, one entity's Newton fit, AUC
 *
 * Everything here works on plain C arrays and knows nothing of SPI, tuples
 * or catalogs, so the aggregates (glmix_agg.c) and the trainer
 * (glmix_train.c) share one implementation of each formula, and the
 * formulas can be checked in isolation.
 *
 * The objective of every coordinate is Photon ML's:
 *     sum_r w_r [log(1 + exp(m_r)) - y_r m_r]  +  lambda/2 |beta|^2,
 *     m_r = offset_r + x_r . beta,
 * with intercepts penalised like every other coefficient.  Its gradient is
 * X'(w (p - y)) + lambda beta and its Hessian X' diag(w p (1-p)) X + lambda I,
 * p = sigmoid(m): positive definite for lambda > 0, so a Cholesky solve
 * always gives a descent direction, and separable data stay finite.
 */
#include "postgres.h"

#include <math.h>

#include "glmix.h"

double
glmix_logloss(double m, double y)
{
	/* log(1 + exp(m)) = max(m, 0) + log1p(exp(-|m|)) */
	return (m > 0 ? m : 0.0) + log1p(exp(-fabs(m))) - y * m;
}

double
glmix_sigmoid(double m)
{
	if (m >= 0)
		return 1.0 / (1.0 + exp(-m));
	else
	{
		double		e = exp(m);

		return e / (1.0 + e);
	}
}

/* the loss and p = sigmoid(m) from one exp() */
static inline double
loss_and_p(double m, double y, double *p)
{
	double		e = exp(-fabs(m));

	*p = m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
	return (m > 0 ? m : 0.0) + log1p(e) - y * m;
}

double
glmix_accum_stats(int n, const double *y, const double *w, const double *offset,
				  const int32 *ptr, const int32 *col, const double *val,
				  int d, const double *beta, double *grad, double *hess)
{
	double		loss = 0.0;

	for (int r = 0; r < n; r++)
	{
		int32		lo = ptr[r],
					hi = ptr[r + 1];
		double		m = offset ? offset[r] : 0.0;
		double		p,
					gr,
					hr;

		if (w[r] == 0.0)
			continue;
		if (val)
			for (int32 k = lo; k < hi; k++)
				m += val[k] * beta[col[k]];
		else
			for (int32 k = lo; k < hi; k++)
				m += beta[col[k]];
		loss += w[r] * loss_and_p(m, y[r], &p);
		gr = w[r] * (p - y[r]);
		hr = w[r] * p * (1.0 - p);
		if (val)
		{
			for (int32 k = lo; k < hi; k++)
			{
				double		hv = hr * val[k];
				double	   *hrow = hess ? hess + GLMIX_PACKED(col[k], d) : NULL;

				grad[col[k]] += gr * val[k];
				if (hrow)
					for (int32 l = k; l < hi; l++)
						hrow[col[l]] += hv * val[l];
			}
		}
		else
		{
			for (int32 k = lo; k < hi; k++)
			{
				double	   *hrow = hess ? hess + GLMIX_PACKED(col[k], d) : NULL;

				grad[col[k]] += gr;
				if (hrow)
					for (int32 l = k; l < hi; l++)
						hrow[col[l]] += hr;
			}
		}
	}
	return loss;
}

/* the Cholesky factor L (lower, row-major) of a small SPD matrix, in place */
bool
glmix_cholesky(double *a, int d)
{
	for (int j = 0; j < d; j++)
	{
		double		s = a[(Size) j * d + j];

		for (int k = 0; k < j; k++)
			s -= a[(Size) j * d + k] * a[(Size) j * d + k];
		if (!(s > 0.0))
			return false;
		s = sqrt(s);
		a[(Size) j * d + j] = s;
		for (int i = j + 1; i < d; i++)
		{
			double		t = a[(Size) i * d + j];

			for (int k = 0; k < j; k++)
				t -= a[(Size) i * d + k] * a[(Size) j * d + k];
			a[(Size) i * d + j] = t / s;
		}
	}
	return true;
}

void
glmix_cholesky_solve(const double *l, int d, double *b)
{
	/* L y = b, then L' x = y */
	for (int i = 0; i < d; i++)
	{
		double		s = b[i];

		for (int k = 0; k < i; k++)
			s -= l[(Size) i * d + k] * b[k];
		b[i] = s / l[(Size) i * d + i];
	}
	for (int i = d - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int k = i + 1; k < d; k++)
			s -= l[(Size) k * d + i] * b[k];
		b[i] = s / l[(Size) i * d + i];
	}
}

/* margins[r] = z_r . v (no offset) */
static void
row_dots(int n, const int32 *ptr, const int32 *col, const double *val,
		 const double *v, double *out)
{
	for (int r = 0; r < n; r++)
	{
		double		s = 0.0;

		if (val)
			for (int32 k = ptr[r]; k < ptr[r + 1]; k++)
				s += val[k] * v[col[k]];
		else
			for (int32 k = ptr[r]; k < ptr[r + 1]; k++)
				s += v[col[k]];
		out[r] = s;
	}
}

/* the objective at margins m; p[r] receives sigmoid(m[r]) */
static double
entity_objective(int n, const double *y, const double *w, const double *m,
				 int d, const double *beta, double lambda, double *p)
{
	double		f = 0.0;

	for (int r = 0; r < n; r++)
	{
		double		l = loss_and_p(m[r], y[r], &p[r]);

		if (w[r] != 0.0)
			f += w[r] * l;
	}
	for (int j = 0; j < d; j++)
		f += 0.5 * lambda * beta[j] * beta[j];
	return f;
}

/* Newton's method on all d features (see glmix_entity_newton) */
static void
entity_newton_dense(int n, const double *y, const double *w, const double *offset,
					const int32 *ptr, const int32 *col, const double *val, int d,
					double lambda, double *beta, int max_iter, double tol,
					double *work, GlmixEntityFit *out)
{
	double	   *H = work;
	double	   *g = H + (Size) d * d;
	double	   *step = g + d;
	double	   *cand = step + d;
	double	   *m = cand + 2 * d;
	double	   *zs = m + n;
	double	   *mc = zs + n;
	double	   *p = mc + n;
	double	   *pc = p + n;
	double		f,
				maxg = 0.0;
	int			it;

	row_dots(n, ptr, col, val, beta, m);
	for (int r = 0; r < n; r++)
		m[r] += offset ? offset[r] : 0.0;
	f = entity_objective(n, y, w, m, d, beta, lambda, p);

	for (it = 1; it <= max_iter; it++)
	{
		double		slope = 0.0,
					t = 1.0,
					fc = f,
					maxmove = 0.0;
		bool		accepted = false;

		memset(H, 0, sizeof(double) * d * d);
		memset(g, 0, sizeof(double) * d);
		for (int r = 0; r < n; r++)
		{
			double		gr = w[r] * (p[r] - y[r]);
			double		hr = w[r] * p[r] * (1.0 - p[r]);

			for (int32 k = ptr[r]; k < ptr[r + 1]; k++)
			{
				double		vk = val ? val[k] : 1.0;
				double	   *hrow = H + (Size) col[k] * d;

				g[col[k]] += gr * vk;
				for (int32 l = k; l < ptr[r + 1]; l++)
					hrow[col[l]] += hr * vk * (val ? val[l] : 1.0);
			}
		}
		maxg = 0.0;
		for (int j = 0; j < d; j++)
		{
			g[j] += lambda * beta[j];
			H[(Size) j * d + j] += lambda;
			for (int i = j + 1; i < d; i++)
				H[(Size) i * d + j] = H[(Size) j * d + i];
			maxg = Max(maxg, fabs(g[j]));
		}
		if (maxg < 1e-12)
			break;
		if (!glmix_cholesky(H, d))
			break;				/* cannot happen for lambda > 0 */
		for (int j = 0; j < d; j++)
			step[j] = -g[j];
		glmix_cholesky_solve(H, d, step);
		for (int j = 0; j < d; j++)
			slope += g[j] * step[j];
		row_dots(n, ptr, col, val, step, zs);
		for (int tries = 0; tries < 40; tries++)
		{
			for (int j = 0; j < d; j++)
				cand[j] = beta[j] + t * step[j];
			for (int r = 0; r < n; r++)
				mc[r] = m[r] + t * zs[r];
			fc = entity_objective(n, y, w, mc, d, cand, lambda, pc);
			if (fc <= f + 1e-4 * t * slope)
			{
				accepted = true;
				break;
			}
			t *= 0.5;
		}
		if (!accepted)
			break;				/* no decrease possible: stay put */
		for (int j = 0; j < d; j++)
		{
			maxmove = Max(maxmove, fabs(cand[j] - beta[j]));
			beta[j] = cand[j];
		}
		memcpy(m, mc, sizeof(double) * n);
		memcpy(p, pc, sizeof(double) * n);
		f = fc;
		/*
		 * Converged when nothing moves by tol; a full step that moved nothing
		 * by more than sqrt(tol) leaves the next one at about tol (Newton
		 * converges quadratically), so stop there too.
		 */
		if (maxmove < tol || (t == 1.0 && maxmove < sqrt(tol)))
			break;
	}
	out->iterations = Min(it, max_iter);
	out->objective = f;
	out->max_abs_grad = maxg;
}

/*
 * A feature that none of the entity's rows has only meets the penalty: its
 * row and column of the Hessian are lambda times the identity and its
 * optimum is exactly 0.  So Newton runs on the features the entity has
 * (mapped in ascending order, which keeps each row's indexes sorted) --
 * for a learner who saw a few genres that is a much smaller system.
 */
void
glmix_entity_newton(int n, const double *y, const double *w, const double *offset,
					const int32 *ptr, const int32 *col, const double *val, int d,
					double lambda, double *beta, int max_iter, double tol,
					double *work, GlmixEntityFit *out)
{
	int32		nnz = ptr[n];
	int		   *map = palloc(sizeof(int) * d);
	int32	   *lcol = palloc(sizeof(int32) * Max(nnz, 1));
	double	   *lbeta = palloc(sizeof(double) * d);
	int			da = 0;

	for (int j = 0; j < d; j++)
		map[j] = -1;
	for (int32 k = 0; k < nnz; k++)
		map[col[k]] = 0;
	for (int j = 0; j < d; j++)
		if (map[j] == 0)
		{
			map[j] = da;
			lbeta[da++] = beta[j];
		}
	if (da == d)
	{
		entity_newton_dense(n, y, w, offset, ptr, col, val, d, lambda, beta,
							max_iter, tol, work, out);
		pfree(map);
		pfree(lcol);
		pfree(lbeta);
		return;
	}
	for (int32 k = 0; k < nnz; k++)
		lcol[k] = map[col[k]];
	if (da > 0)
		entity_newton_dense(n, y, w, offset, ptr, lcol, val, da, lambda, lbeta,
							max_iter, tol, work, out);
	else
		memset(out, 0, sizeof(*out));
	for (int j = 0; j < d; j++)
		beta[j] = map[j] >= 0 ? lbeta[map[j]] : 0.0;
	pfree(map);
	pfree(lcol);
	pfree(lbeta);
}

typedef struct ScoreLabel
{
	double		s;
	double		y;
} ScoreLabel;

static int
score_cmp(const void *a, const void *b)
{
	double		x = ((const ScoreLabel *) a)->s;
	double		y = ((const ScoreLabel *) b)->s;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * AUC as the Mann-Whitney U statistic: sort by score, average the ranks of
 * tied scores, sum the positives' ranks.  Equals sklearn's roc_auc_score.
 */
double
glmix_auc(int64 n, const double *score, const double *y)
{
	ScoreLabel *sl = palloc(sizeof(ScoreLabel) * Max(n, 1));
	double		npos = 0,
				nneg = 0,
				rank_sum = 0;
	int64		i = 0;

	for (int64 k = 0; k < n; k++)
	{
		sl[k].s = score[k];
		sl[k].y = y[k];
		if (y[k] > 0.5)
			npos++;
		else
			nneg++;
	}
	if (npos == 0 || nneg == 0)
	{
		pfree(sl);
		return NAN;
	}
	qsort(sl, n, sizeof(ScoreLabel), score_cmp);
	while (i < n)
	{
		int64		j = i;
		double		pos = 0;

		while (j < n && sl[j].s == sl[i].s)
		{
			if (sl[j].y > 0.5)
				pos++;
			j++;
		}
		/* ranks i+1 .. j share their mean */
		rank_sum += pos * (i + 1 + j) / 2.0;
		i = j;
	}
	pfree(sl);
	return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg);
}

/* mean log-loss with p clipped to [1e-15, 1 - 1e-15], as sklearn's log_loss */
double
glmix_mean_logloss(int64 n, const double *logit, const double *y)
{
	double		s = 0.0;

	for (int64 k = 0; k < n; k++)
	{
		double		p = glmix_sigmoid(logit[k]);

		p = Min(Max(p, 1e-15), 1.0 - 1e-15);
		s -= y[k] * log(p) + (1.0 - y[k]) * log(1.0 - p);
	}
	return n > 0 ? s / n : NAN;
}
