/*
 * ncf_kernels.c -- the NCF trainer's inner loops over rows of floats
 *
 * Everything the trainer does outside cblas_sgemm is a loop over a row of
 * a few hundred floats: summing the weight rows of a sparse input, adding a
 * bias and applying ReLU, scattering gradients back, one Adam step.  These
 * loops carry the sparse layers, so they are compiled for the CPU they run
 * on: target_clones builds an AVX-512, an AVX2 and a baseline version of
 * each and the dynamic loader picks one (PGXS builds for baseline x86-64).
 * Adam needs a vector square root, which GCC only emits without errno
 * semantics, so it is written with intrinsics and dispatched by hand.
 *
 * Results depend on the version picked (FMA rounds once), so a model is
 * reproducible for a seed on one machine type, not bit-identical across
 * CPU generations.
 */
#include "postgres.h"

#include <math.h>

#include "ncf.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#define NCF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define NCF_X86 1
#include <immintrin.h>
#else
#define NCF_CLONES
#endif

NCF_CLONES void
ncf_vec_add(float *restrict y, const float *restrict x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += x[i];
}

NCF_CLONES void
ncf_vec_axpy(float *restrict y, float a, const float *restrict x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += a * x[i];
}

NCF_CLONES void
ncf_vec_bias_relu(float *restrict y, const float *restrict b, int n, bool relu)
{
	if (relu)
		for (int i = 0; i < n; i++)
		{
			float		z = y[i] + b[i];

			y[i] = z > 0.0f ? z : 0.0f;
		}
	else
		for (int i = 0; i < n; i++)
			y[i] += b[i];
}

/* gradient through ReLU: zero where the activation was clipped */
NCF_CLONES void
ncf_vec_relu_mask(float *restrict dy, const float *restrict y, int n)
{
	for (int i = 0; i < n; i++)
		dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

float
ncf_vec_dot(const float *x, const float *y, int n)
{
	float		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += x[i] * y[i];
		s1 += x[i + 1] * y[i + 1];
		s2 += x[i + 2] * y[i + 2];
		s3 += x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

/*
 * Blocked scores.  Row-major dot products end every row with a horizontal
 * sum, which at serving's widths (64) costs as much as the products; with
 * NCF_BLOCK rows laid out dimension-major, one vector holds the running
 * scores of NCF_BLOCK courses and each dimension is one broadcast FMA.  Each
 * lane computes its row's dot product in dimension order with a fused
 * multiply-add per element, so every version (AVX-512, AVX2, fmaf) gives the
 * same bits, and so does ncf_dot_blocked_one: recommend(), score(), a blend
 * and similar_courses all score through it.  It replaces OpenBLAS's sgemv,
 * whose kernel for this shape is slow on some CPUs; like Adam below it is
 * written with intrinsics and dispatched by hand.
 */
float *
ncf_block_rows(const float *rows, int n, int d)
{
	int64		nblocks = ((int64) n + NCF_BLOCK - 1) / NCF_BLOCK;
	float	   *b = MemoryContextAllocHuge(CurrentMemoryContext,
										   mul_size(sizeof(float), mul_size(nblocks * NCF_BLOCK, d)));

	memset(b, 0, sizeof(float) * nblocks * NCF_BLOCK * d);
	for (int64 i = 0; i < n; i++)
		for (int k = 0; k < d; k++)
			b[((i / NCF_BLOCK) * d + k) * NCF_BLOCK + i % NCF_BLOCK] = rows[i * d + k];
	return b;
}

void
ncf_blocked_row(const float *blocked, int64 i, int d, float *out)
{
	for (int k = 0; k < d; k++)
		out[k] = blocked[((i / NCF_BLOCK) * d + k) * NCF_BLOCK + i % NCF_BLOCK];
}

static void
dot_blocked_scalar(const float *restrict blocked, int64 nblocks, int d,
				   const float *restrict u, float *restrict out)
{
	for (int64 b = 0; b < nblocks; b++)
		for (int l = 0; l < NCF_BLOCK; l++)
		{
			float		s = 0;

			for (int k = 0; k < d; k++)
				s = fmaf(blocked[(b * d + k) * NCF_BLOCK + l], u[k], s);
			out[b * NCF_BLOCK + l] = s;
		}
}

#ifdef NCF_X86
__attribute__((target("avx512f")))
static void
dot_blocked_avx512(const float *restrict blocked, int64 nblocks, int d,
				   const float *restrict u, float *restrict out)
{
	int64		b = 0;

	/* four blocks at a time: four independent FMA chains hide the latency */
	for (; b + 4 <= nblocks; b += 4)
	{
		const float *blk = blocked + b * d * NCF_BLOCK;
		const int64 step = (int64) d * NCF_BLOCK;
		__m512		a0 = _mm512_setzero_ps();
		__m512		a1 = _mm512_setzero_ps();
		__m512		a2 = _mm512_setzero_ps();
		__m512		a3 = _mm512_setzero_ps();

		for (int k = 0; k < d; k++)
		{
			__m512		uk = _mm512_set1_ps(u[k]);

			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(blk + k * NCF_BLOCK), uk, a0);
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(blk + step + k * NCF_BLOCK), uk, a1);
			a2 = _mm512_fmadd_ps(_mm512_loadu_ps(blk + 2 * step + k * NCF_BLOCK), uk, a2);
			a3 = _mm512_fmadd_ps(_mm512_loadu_ps(blk + 3 * step + k * NCF_BLOCK), uk, a3);
		}
		_mm512_storeu_ps(out + b * NCF_BLOCK, a0);
		_mm512_storeu_ps(out + (b + 1) * NCF_BLOCK, a1);
		_mm512_storeu_ps(out + (b + 2) * NCF_BLOCK, a2);
		_mm512_storeu_ps(out + (b + 3) * NCF_BLOCK, a3);
	}
	for (; b < nblocks; b++)
	{
		const float *blk = blocked + b * d * NCF_BLOCK;
		__m512		acc = _mm512_setzero_ps();

		for (int k = 0; k < d; k++)
			acc = _mm512_fmadd_ps(_mm512_loadu_ps(blk + k * NCF_BLOCK), _mm512_set1_ps(u[k]), acc);
		_mm512_storeu_ps(out + b * NCF_BLOCK, acc);
	}
}

__attribute__((target("avx2,fma")))
static void
dot_blocked_avx2(const float *restrict blocked, int64 nblocks, int d,
				 const float *restrict u, float *restrict out)
{
	int64		b = 0;

	/* two blocks (four chains) at a time, then one */
	for (; b + 2 <= nblocks; b += 2)
	{
		const float *blk = blocked + b * d * NCF_BLOCK;
		const int64 step = (int64) d * NCF_BLOCK;
		__m256		a0 = _mm256_setzero_ps();
		__m256		a1 = _mm256_setzero_ps();
		__m256		a2 = _mm256_setzero_ps();
		__m256		a3 = _mm256_setzero_ps();

		for (int k = 0; k < d; k++)
		{
			__m256		uk = _mm256_set1_ps(u[k]);

			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + k * NCF_BLOCK), uk, a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + k * NCF_BLOCK + 8), uk, a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + step + k * NCF_BLOCK), uk, a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + step + k * NCF_BLOCK + 8), uk, a3);
		}
		_mm256_storeu_ps(out + b * NCF_BLOCK, a0);
		_mm256_storeu_ps(out + b * NCF_BLOCK + 8, a1);
		_mm256_storeu_ps(out + (b + 1) * NCF_BLOCK, a2);
		_mm256_storeu_ps(out + (b + 1) * NCF_BLOCK + 8, a3);
	}
	for (; b < nblocks; b++)
	{
		const float *blk = blocked + b * d * NCF_BLOCK;
		__m256		a0 = _mm256_setzero_ps();
		__m256		a1 = _mm256_setzero_ps();

		for (int k = 0; k < d; k++)
		{
			__m256		uk = _mm256_set1_ps(u[k]);

			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + k * NCF_BLOCK), uk, a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(blk + k * NCF_BLOCK + 8), uk, a1);
		}
		_mm256_storeu_ps(out + b * NCF_BLOCK, a0);
		_mm256_storeu_ps(out + b * NCF_BLOCK + 8, a1);
	}
}
#endif

void
ncf_dot_blocked(const float *restrict blocked, int64 nblocks, int d,
				const float *restrict u, float *restrict out)
{
#ifdef NCF_X86
	if (__builtin_cpu_supports("avx512f"))
		dot_blocked_avx512(blocked, nblocks, d, u, out);
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		dot_blocked_avx2(blocked, nblocks, d, u, out);
	else
#endif
		dot_blocked_scalar(blocked, nblocks, d, u, out);
}

float
ncf_dot_blocked_one(const float *blocked, int64 i, int d, const float *u)
{
	float		out[NCF_BLOCK];

	ncf_dot_blocked(blocked + (i / NCF_BLOCK) * d * NCF_BLOCK, 1, d, u, out);
	return out[i % NCF_BLOCK];
}

/* ---- Adam ---- */

static void
adam_scalar(float *restrict w, float *restrict m, float *restrict v,
			float *g, int64 stride, int nparts, int64 n, const NcfAdam *a)
{
	for (int64 i = 0; i < n; i++)
	{
		float		gi = g[i];

		g[i] = 0;
		for (int p = 1; p < nparts; p++)
		{
			gi += g[p * stride + i];
			g[p * stride + i] = 0;
		}
		gi += a->l2 * w[i];
		m[i] = a->beta1 * m[i] + (1 - a->beta1) * gi;
		v[i] = a->beta2 * v[i] + (1 - a->beta2) * gi * gi;
		w[i] -= a->lr * m[i] / (sqrtf(v[i]) + a->eps);
	}
}

#ifdef NCF_X86
__attribute__((target("avx512f")))
static void
adam_avx512(float *restrict w, float *restrict m, float *restrict v,
			float *g, int64 stride, int nparts, int64 n, const NcfAdam *a)
{
	__m512		b1 = _mm512_set1_ps(a->beta1),
				c1 = _mm512_set1_ps(1 - a->beta1),
				b2 = _mm512_set1_ps(a->beta2),
				c2 = _mm512_set1_ps(1 - a->beta2),
				lr = _mm512_set1_ps(a->lr),
				eps = _mm512_set1_ps(a->eps),
				l2 = _mm512_set1_ps(a->l2),
				zero = _mm512_setzero_ps();
	int64		i = 0;

	for (; i + 16 <= n; i += 16)
	{
		__m512		gi = _mm512_loadu_ps(g + i);
		__m512		wi = _mm512_loadu_ps(w + i);
		__m512		mi,
					vi;

		_mm512_storeu_ps(g + i, zero);
		for (int p = 1; p < nparts; p++)
		{
			gi = _mm512_add_ps(gi, _mm512_loadu_ps(g + p * stride + i));
			_mm512_storeu_ps(g + p * stride + i, zero);
		}
		gi = _mm512_fmadd_ps(l2, wi, gi);
		mi = _mm512_fmadd_ps(b1, _mm512_loadu_ps(m + i), _mm512_mul_ps(c1, gi));
		vi = _mm512_fmadd_ps(b2, _mm512_loadu_ps(v + i), _mm512_mul_ps(c2, _mm512_mul_ps(gi, gi)));
		_mm512_storeu_ps(m + i, mi);
		_mm512_storeu_ps(v + i, vi);
		wi = _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(lr, mi),
											 _mm512_add_ps(_mm512_sqrt_ps(vi), eps)));
		_mm512_storeu_ps(w + i, wi);
	}
	if (i < n)
	{
		/* the tail: shift the part vectors' origin along with the others */
		adam_scalar(w + i, m + i, v + i, g + i, stride, nparts, n - i, a);
	}
}

__attribute__((target("avx2,fma")))
static void
adam_avx2(float *restrict w, float *restrict m, float *restrict v,
		  float *g, int64 stride, int nparts, int64 n, const NcfAdam *a)
{
	__m256		b1 = _mm256_set1_ps(a->beta1),
				c1 = _mm256_set1_ps(1 - a->beta1),
				b2 = _mm256_set1_ps(a->beta2),
				c2 = _mm256_set1_ps(1 - a->beta2),
				lr = _mm256_set1_ps(a->lr),
				eps = _mm256_set1_ps(a->eps),
				l2 = _mm256_set1_ps(a->l2),
				zero = _mm256_setzero_ps();
	int64		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		gi = _mm256_loadu_ps(g + i);
		__m256		wi = _mm256_loadu_ps(w + i);
		__m256		mi,
					vi;

		_mm256_storeu_ps(g + i, zero);
		for (int p = 1; p < nparts; p++)
		{
			gi = _mm256_add_ps(gi, _mm256_loadu_ps(g + p * stride + i));
			_mm256_storeu_ps(g + p * stride + i, zero);
		}
		gi = _mm256_fmadd_ps(l2, wi, gi);
		mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
		vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(c2, _mm256_mul_ps(gi, gi)));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
		wi = _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(lr, mi),
											 _mm256_add_ps(_mm256_sqrt_ps(vi), eps)));
		_mm256_storeu_ps(w + i, wi);
	}
	if (i < n)
		adam_scalar(w + i, m + i, v + i, g + i, stride, nparts, n - i, a);
}
#endif

void
ncf_adam_sum(float *restrict w, float *restrict m, float *restrict v,
			 float *g, int64 stride, int nparts, int64 n, const NcfAdam *a)
{
#ifdef NCF_X86
	if (__builtin_cpu_supports("avx512f"))
		adam_avx512(w, m, v, g, stride, nparts, n, a);
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		adam_avx2(w, m, v, g, stride, nparts, n, a);
	else
#endif
		adam_scalar(w, m, v, g, stride, nparts, n, a);
}

void
ncf_adam(float *restrict w, float *restrict m, float *restrict v,
		 float *restrict g, int64 n, const NcfAdam *a)
{
	ncf_adam_sum(w, m, v, g, 0, 1, n, a);
}
