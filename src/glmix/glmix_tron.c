/*
 * glmix_tron.c -- the fixed effect's matrix-free solver: trust-region
 * Newton with conjugate gradients (TRON), and the per-row kernel of the
 * statistics it needs
 *
 * Dense Newton (glmix_fit.c) accumulates and factors the d x d Hessian:
 * O(d^2) memory and O(d^3) work per iteration, hopeless beyond a few
 * thousand features.  TRON (Lin, Weng and Keerthi 2008, the solver of
 * LIBLINEAR and one of Photon ML's) never forms the Hessian: each outer
 * iteration solves H s = -g approximately by conjugate gradients inside a
 * trust region, and CG only needs Hessian-vector products
 *     H v = X' diag(w p (1 - p)) X v + lambda v,
 * one pass over the design's nonzeros each.  Memory is a few vectors of d;
 * time is (1 + CG steps) passes over the nonzeros per outer iteration.
 *
 * Every pass is an aggregate over the staged blocks (glmix_agg_grad.c), so
 * the statistics stay partial sums a parallel or distributed plan can
 * split.  The solver itself knows nothing of SQL: it calls the caller's
 * function/gradient and Hessian-vector callbacks.  An evaluation at a
 * candidate returns its gradient too, so an accepted step costs no extra
 * pass.
 *
 * CG stops at a relative residual of min(0.5, sqrt(|g| / |g0|)) (a forcing
 * sequence giving superlinear convergence), but not below 1e-4 (tighter
 * residuals are lost in the rounding of the Hessian-vector sums); the trust
 * region follows LIBLINEAR's update rules.  The solver stops when the
 * gradient bounds the distance to the optimum, |beta - beta*| <= |g| /
 * lambda (the objective is lambda-strongly convex), below 1e-9 of |beta| --
 * coefficients as exact as dense Newton's -- or when the predicted decrease
 * falls below 1e-15 of the objective (rounding level: on a million rows the
 * gradient cannot get smaller), or after TRON_MAX_ITER iterations.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "glmix.h"

#define TRON_MAX_ITER 200
#define TRON_COEF_TOL 1e-9
#define TRON_FLOOR 1e-15
#define TRON_CG_MIN_REL 1e-4	/* CG never asked for a relative residual below this */

/* LIBLINEAR's trust-region constants */
#define ETA0 1e-4
#define ETA1 0.25
#define ETA2 0.75
#define SIGMA1 0.25
#define SIGMA2 0.5
#define SIGMA3 4.0

static double
dot(int d, const double *a, const double *b)
{
	double		s = 0.0;

	for (int j = 0; j < d; j++)
		s += a[j] * b[j];
	return s;
}

static double
norm2(int d, const double *a)
{
	return sqrt(dot(d, a, a));
}

/*
 * Sum the weighted loss and gradient of rows [0, n) at margins
 * offset[r] + x_r . beta into *loss and grad; with dir != NULL also the
 * Hessian-vector product X' diag(w p (1 - p)) X dir into hv.  One pass
 * over each row's nonzeros for the margins, one for the scatter.
 */
double
glmix_accum_grad_hv(int n, const double *y, const double *w, const double *offset,
					const int32 *ptr, const int32 *col, const double *val,
					const double *beta, const double *dir, double *grad, double *hv)
{
	double		loss = 0.0;

	for (int r = 0; r < n; r++)
	{
		int32		lo = ptr[r],
					hi = ptr[r + 1];
		double		m = offset ? offset[r] : 0.0;
		double		xv = 0.0;
		double		p,
					gr,
					hr;

		if (w[r] == 0.0)
			continue;
		if (val)
			for (int32 k = lo; k < hi; k++)
			{
				m += val[k] * beta[col[k]];
				if (dir)
					xv += val[k] * dir[col[k]];
			}
		else
			for (int32 k = lo; k < hi; k++)
			{
				m += beta[col[k]];
				if (dir)
					xv += dir[col[k]];
			}
		p = glmix_sigmoid(m);
		loss += w[r] * glmix_logloss(m, y[r]);
		gr = w[r] * (p - y[r]);
		hr = dir ? w[r] * p * (1.0 - p) * xv : 0.0;
		if (val)
			for (int32 k = lo; k < hi; k++)
			{
				grad[col[k]] += gr * val[k];
				if (dir)
					hv[col[k]] += hr * val[k];
			}
		else
			for (int32 k = lo; k < hi; k++)
			{
				grad[col[k]] += gr;
				if (dir)
					hv[col[k]] += hr;
			}
	}
	return loss;
}

/*
 * Steihaug's truncated CG for H s = -g within |s| <= delta; r gets the
 * residual -g - H s.  Returns the number of Hessian-vector products;
 * *boundary says whether the step stopped on the trust region.
 */
static int
tron_cg(int d, const GlmixTronOps *ops, const double *beta, const double *g, double delta,
		double cgtol, double *s, double *r, double *dvec, double *Hd, bool *boundary)
{
	double		rTr;
	int			iters = 0;

	*boundary = false;
	for (int j = 0; j < d; j++)
	{
		s[j] = 0.0;
		r[j] = -g[j];
		dvec[j] = r[j];
	}
	rTr = dot(d, r, r);
	while (sqrt(rTr) > cgtol && iters < d + 10)
	{
		double		dHd,
					alpha,
					rnew;

		CHECK_FOR_INTERRUPTS();
		ops->hess_vec(ops->arg, beta, dvec, Hd);
		iters++;
		dHd = dot(d, dvec, Hd);
		alpha = rTr / dHd;
		for (int j = 0; j < d; j++)
			s[j] += alpha * dvec[j];
		if (!(dHd > 0) || norm2(d, s) > delta)
		{
			/* back to the previous s, then along dvec to the boundary */
			double		std,
						sts,
						dd,
						rad,
						tau;

			for (int j = 0; j < d; j++)
				s[j] -= alpha * dvec[j];
			std = dot(d, s, dvec);
			sts = dot(d, s, s);
			dd = dot(d, dvec, dvec);
			rad = sqrt(Max(std * std + dd * (delta * delta - sts), 0.0));
			tau = std >= 0 ? (delta * delta - sts) / (std + rad) : (rad - std) / dd;
			for (int j = 0; j < d; j++)
			{
				s[j] += tau * dvec[j];
				r[j] -= tau * Hd[j];
			}
			*boundary = true;
			break;
		}
		for (int j = 0; j < d; j++)
			r[j] -= alpha * Hd[j];
		rnew = dot(d, r, r);
		for (int j = 0; j < d; j++)
			dvec[j] = r[j] + (rnew / rTr) * dvec[j];
		rTr = rnew;
	}
	return iters;
}

/*
 * Minimise the callbacks' objective from beta (in/out, the warm start).
 * lambda is the L2 weight (a lower bound of the Hessian's eigenvalues);
 * work holds 6 d doubles.  Fills *out and returns the aggregate passes.
 */
int
glmix_tron(int d, double *beta, double lambda, const GlmixTronOps *ops, double *work,
		   GlmixTronResult *out)
{
	double	   *g = work,
			   *s = work + d,
			   *r = work + 2 * (Size) d,
			   *dvec = work + 3 * (Size) d,
			   *Hd = work + 4 * (Size) d,
			   *cand = work + 5 * (Size) d;
	double	   *gc = palloc(sizeof(double) * d);
	double		f,
				gnorm,
				gnorm0,
				delta;
	int			passes = 1;
	int			it;

	f = ops->fun_grad(ops->arg, beta, g);
	gnorm0 = gnorm = norm2(d, g);
	delta = gnorm;
	out->cg_steps = 0;
	for (it = 0; it < TRON_MAX_ITER; it++)
	{
		double		cgtol,
					gs,
					prered,
					fnew,
					actred,
					snorm,
					alpha;
		bool		boundary;

		CHECK_FOR_INTERRUPTS();
		/* |beta - beta*| <= |g| / lambda: stop when that is negligible */
		if (gnorm <= lambda * TRON_COEF_TOL * Max(1.0, norm2(d, beta)))
			break;
		cgtol = Max(Min(0.5, sqrt(gnorm / Max(gnorm0, gnorm))), TRON_CG_MIN_REL) * gnorm;
		{
			int			cg = tron_cg(d, ops, beta, g, delta, cgtol, s, r, dvec, Hd, &boundary);

			passes += cg;
			out->cg_steps += cg;
		}
		gs = dot(d, g, s);
		prered = -0.5 * (gs - dot(d, s, r));
		for (int j = 0; j < d; j++)
			cand[j] = beta[j] + s[j];
		fnew = ops->fun_grad(ops->arg, cand, gc);
		passes++;
		actred = f - fnew;
		snorm = norm2(d, s);
		if (it == 0)
			delta = Min(delta, snorm);
		alpha = fnew - f - gs <= 0 ? SIGMA3 : Max(SIGMA1, -0.5 * (gs / (fnew - f - gs)));
		if (actred < ETA0 * prered)
			delta = Min(Max(alpha, SIGMA1) * snorm, SIGMA2 * delta);
		else if (actred < ETA1 * prered)
			delta = Max(SIGMA1 * delta, Min(alpha * snorm, SIGMA2 * delta));
		else if (actred < ETA2 * prered)
			delta = Max(SIGMA1 * delta, Min(alpha * snorm, SIGMA3 * delta));
		else
			delta = Max(delta, Min(alpha * snorm, SIGMA3 * delta));
		if (actred > ETA0 * prered)
		{
			memcpy(beta, cand, sizeof(double) * d);
			memcpy(g, gc, sizeof(double) * d);
			f = fnew;
			gnorm = norm2(d, g);
		}
		if (ops->progress)
			ops->progress(ops->arg, it + 1, f, gnorm,
						  lambda * TRON_COEF_TOL * Max(1.0, norm2(d, beta)), passes);
		/*
		 * A predicted decrease below the objective's rounding level cannot be
		 * measured, let alone achieved: the gradient is then as small as the
		 * sums' rounding lets it be.
		 */
		if (prered <= TRON_FLOOR * fabs(f))
			break;
		if (delta <= 0.0 || !isfinite(f))
			break;
	}
	pfree(gc);
	out->iterations = it;
	out->objective = f;
	out->gnorm = gnorm;
	return passes;
}
