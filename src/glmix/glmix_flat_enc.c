/*
 * glmix_flat_enc.c -- the encoding a flat Citus training sends to its
 * workers once: the courses' feature vectors, the learners' columns, the
 * fixed layout, the learner effect's design and the reader's row policy,
 * as one bytea
 *
 * The flat path (glmix_flat.c) builds each learner's blocks on the worker
 * that holds the learner's impressions (recs._glmix_flat_blocks).  What it
 * needs from the coordinator is O(courses + features): every course's
 * sparse feature vector (GlmixSide: ids, CSR rows, column ranges), the
 * learner side's columns (their feature ranges, no rows: each learner's
 * vector is in a relation co-located with its impressions), the crosses,
 * the learner effect's shape, whether a course effect needs each row's
 * course, the policy's parameters, and with hashed crosses (hash_bits)
 * each learner and course feature's name hash, so the workers bucket a
 * row's crosses as glmix_hash_row() does on one node.  Then (version 3)
 * the match features' value maps (glmix_match.c: per feature of the
 * learner column, the course column's feature with the same value), so the
 * workers compute them as glmix_match_row() does, and the learner effect's
 * max_rows with the seed and its coordinate's position (glmix_sample.c).
 * The encoding is
 * a parameter of the one INSERT ... SELECT that builds the blocks, so Citus
 * sends it with each shard's task: its size times the shard count.
 *
 * The bytes are hostile input (the function is callable by a training
 * role): glmix_flat_decode() checks every count against the length before
 * allocating and every index that glmix_fixed_row() and the design loops
 * will follow, so a decoded encoding cannot make them read out of bounds.
 * Violations are ERRCODE_DATA_CORRUPTED.
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "glmix_flat.h"

#define FLAT_ENC_MAGIC 0x474D4645	/* "GMFE" */
#define FLAT_ENC_VERSION 3		/* 2: hashed crosses; 3: matches, max_rows */

typedef struct FlatEncHeader
{
	uint32		magic;
	int32		version;
	int32		dim;
	int32		intercept;
	int32		l_base;
	int32		c_base;
	int32		ncross;
	int32		learner_effect;
	int32		re_intercept;
	int32		re_dim;
	int32		min_rows;
	int32		nlabels;
	int32		has_time;
	int32		weights;		/* GLMIX_FLAT_WEIGHT_* bits */
	int32		course_effect;
	int32		hash_bits;		/* > 0: the crosses share 2^hash_bits buckets */
	int32		hash_base;
	int32		pad;
	double		through;
} FlatEncHeader;

/* version 3's trailer, after the hashes: the matches and the row cap */
typedef struct FlatEncMatchHeader
{
	int32		nmatch;
	int32		max_rows;		/* the learner effect's cap, 0: none */
	int32		re_serial;		/* its coordinate's position (the sample's stream) */
	int32		pad;
	int64		seed;
} FlatEncMatchHeader;

/* one match: kind, columns, first feature, then nmap ints of its value map */
typedef struct FlatEncMatch
{
	int32		kind;
	int32		lcol;
	int32		ccol;
	int32		base;
	int32		nmap;
} FlatEncMatch;

typedef struct FlatSideHeader
{
	int32		n;
	int32		nnz;
	int32		nfeat;
	int32		nmodel;
	int32		ncols;
	int32		pad;
} FlatSideHeader;

#define ENC_CORRUPT(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("invalid glmix flat encoding"), \
			 errdetail(__VA_ARGS__)))

static void
put_side(StringInfo buf, const GlmixSide *s)
{
	FlatSideHeader h = {s->n, s->ptr[s->n], s->nfeat, s->nmodel, s->ncols, 0};

	appendBinaryStringInfo(buf, (char *) &h, sizeof(h));
	appendBinaryStringInfo(buf, (char *) s->ids, sizeof(int64) * s->n);
	appendBinaryStringInfo(buf, (char *) s->ptr, sizeof(int32) * (s->n + 1));
	appendBinaryStringInfo(buf, (char *) s->col, sizeof(int32) * h.nnz);
	appendBinaryStringInfo(buf, (char *) s->val, sizeof(double) * h.nnz);
	for (int c = 0; c < s->ncols; c++)
	{
		int32		range[2] = {s->cols[c].start, s->cols[c].end};

		appendBinaryStringInfo(buf, (char *) range, sizeof(range));
	}
}

/* the matches' value maps and the row cap (version 3) */
static void
put_matches(StringInfo buf, const GlmixFlatEnc *e)
{
	FlatEncMatchHeader mh = {e->lay.nmatch, e->max_rows, e->re_serial, 0, e->seed};

	appendBinaryStringInfo(buf, (char *) &mh, sizeof(mh));
	for (int q = 0; q < e->lay.nmatch; q++)
	{
		const GlmixMatch *mt = &e->lay.match[q];
		const GlmixColumn *lc = &e->learners->cols[mt->lcol];
		FlatEncMatch m = {mt->kind == GLMIX_MATCH_EQUAL ? 0 : 1, mt->lcol, mt->ccol, mt->base,
		lc->end - lc->start};

		appendBinaryStringInfo(buf, (char *) &m, sizeof(m));
		appendBinaryStringInfo(buf, (char *) mt->lmap, sizeof(int32) * m.nmap);
	}
}

bytea *
glmix_flat_encode(const GlmixFlatEnc *e)
{
	StringInfoData buf;
	FlatEncHeader h;
	bytea	   *out;

	memset(&h, 0, sizeof(h));
	h.magic = FLAT_ENC_MAGIC;
	h.version = FLAT_ENC_VERSION;
	h.dim = e->lay.dim;
	h.intercept = e->lay.intercept;
	h.l_base = e->lay.l_base;
	h.c_base = e->lay.c_base;
	h.ncross = e->lay.ncross;
	h.learner_effect = e->learner_effect;
	h.re_intercept = e->re_intercept;
	h.re_dim = e->re_dim;
	h.min_rows = e->min_rows;
	h.nlabels = e->nlabels;
	h.has_time = e->has_time;
	h.weights = e->weights;
	h.course_effect = e->course_effect;
	h.hash_bits = e->lay.ncross > 0 ? e->lay.hash_bits : 0;
	h.hash_base = e->lay.hash_base;
	h.through = e->through;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) &h, sizeof(h));
	put_side(&buf, e->learners);
	put_side(&buf, e->courses);
	for (int p = 0; p < e->lay.ncross; p++)
	{
		int32		x[3] = {e->lay.cross[p].lcol, e->lay.cross[p].ccol, e->lay.cross[p].base};

		appendBinaryStringInfo(&buf, (char *) x, sizeof(x));
	}
	/* hashed crosses: each learner and course feature's name hash (glmix_hash.c) */
	if (h.hash_bits > 0)
	{
		appendBinaryStringInfo(&buf, (char *) e->lay.lhash, sizeof(uint64) * e->learners->nfeat);
		appendBinaryStringInfo(&buf, (char *) e->lay.chash, sizeof(uint64) * e->courses->nfeat);
	}
	put_matches(&buf, e);
	out = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(out, VARHDRSZ + buf.len);
	memcpy(VARDATA(out), buf.data, buf.len);
	pfree(buf.data);
	return out;
}

/* a reader over the encoding's bytes: every take is bounds-checked */
typedef struct EncReader
{
	const char *p;
	Size		left;
} EncReader;

static void *
take(EncReader *r, Size elem, int64 count, const char *what)
{
	Size		len;
	void	   *out;

	if (count < 0 || (uint64) count > MaxAllocHugeSize / Max(elem, 1))
		ENC_CORRUPT("The %s count %lld is out of range.", what, (long long) count);
	len = elem * (Size) count;
	if (len > r->left)
		ENC_CORRUPT("The %s need %zu bytes, %zu are left.", what, len, r->left);
	out = MemoryContextAllocHuge(CurrentMemoryContext, Max(len, 1));
	memcpy(out, r->p, len);
	r->p += len;
	r->left -= len;
	return out;
}

static GlmixSide *
get_side(EncReader *r, const char *what)
{
	FlatSideHeader *h = take(r, sizeof(FlatSideHeader), 1, "side header");
	GlmixSide  *s = palloc0(sizeof(GlmixSide));

	if (h->n < 0 || h->nnz < 0 || h->nfeat < 0 || h->nmodel < 0 || h->nmodel > h->nfeat ||
		h->ncols < 0)
		ENC_CORRUPT("The %s side's header is out of range.", what);
	s->what = what;
	s->n = h->n;
	s->nfeat = h->nfeat;
	s->nmodel = h->nmodel;
	s->ncols = h->ncols;
	s->ids = take(r, sizeof(int64), h->n, "ids");
	s->ptr = take(r, sizeof(int32), (int64) h->n + 1, "row pointers");
	s->col = take(r, sizeof(int32), h->nnz, "columns");
	s->val = take(r, sizeof(double), h->nnz, "values");
	if (s->ptr[0] != 0 || s->ptr[h->n] != h->nnz)
		ENC_CORRUPT("The %s side's row pointers do not span its %d nonzeros.", what, h->nnz);
	for (int i = 0; i < h->n; i++)
	{
		if (s->ptr[i + 1] < s->ptr[i])
			ENC_CORRUPT("The %s side's row pointers decrease at row %d.", what, i);
		if (i > 0 && s->ids[i] <= s->ids[i - 1])
			ENC_CORRUPT("The %s side's ids are not ascending at row %d.", what, i);
	}
	for (int k = 0; k < h->nnz; k++)
	{
		if (s->col[k] < 0 || s->col[k] >= h->nfeat)
			ENC_CORRUPT("The %s side's column %d is outside its %d features.", what, s->col[k], h->nfeat);
		if (!isfinite(s->val[k]))
			ENC_CORRUPT("The %s side's value %d is not finite.", what, k);
	}
	s->cols = palloc0(sizeof(GlmixColumn) * Max(h->ncols, 1));
	for (int c = 0; c < h->ncols; c++)
	{
		int32	   *range = take(r, sizeof(int32), 2, "column ranges");

		/* a column read for matches only lies after the model features */
		if (range[0] < 0 || range[1] < range[0] || range[1] > h->nfeat ||
			(range[0] < h->nmodel && range[1] > h->nmodel))
			ENC_CORRUPT("The %s side's column %d spans features %d to %d of %d.",
						what, c, range[0], range[1], h->nfeat);
		s->cols[c].start = range[0];
		s->cols[c].end = range[1];
	}
	return s;
}

/*
 * The matches (each where the layout puts it, its value map within the
 * course column) and the row cap; returns the features' end after them
 */
static int64
get_matches(EncReader *r, GlmixFlatEnc *e, int64 end)
{
	FlatEncMatchHeader *mh = take(r, sizeof(FlatEncMatchHeader), 1, "match header");

	if (mh->nmatch < 0 || mh->nmatch > e->lay.dim || mh->max_rows < 0 ||
		(mh->max_rows > 0 && (!e->learner_effect || mh->max_rows < e->min_rows)) ||
		mh->re_serial < 0 || mh->re_serial >= GLMIX_MAX_RANDOM)
		ENC_CORRUPT("The match header's counts are out of range.");
	e->max_rows = mh->max_rows;
	e->re_serial = mh->re_serial;
	e->seed = mh->seed;
	e->lay.nmatch = mh->nmatch;
	e->lay.match = palloc0(sizeof(GlmixMatch) * Max(mh->nmatch, 1));
	for (int q = 0; q < mh->nmatch; q++)
	{
		FlatEncMatch *m = take(r, sizeof(FlatEncMatch), 1, "matches");
		GlmixMatch *mt = &e->lay.match[q];
		const GlmixColumn *lc,
				   *cc;

		if (m->kind < 0 || m->kind > 1 || m->lcol < 0 || m->lcol >= e->learners->ncols ||
			m->ccol < 0 || m->ccol >= e->courses->ncols)
			ENC_CORRUPT("Match %d is of kind %d and names column %d x %d.", q, m->kind, m->lcol, m->ccol);
		lc = &e->learners->cols[m->lcol];
		cc = &e->courses->cols[m->ccol];
		mt->kind = m->kind == 0 ? GLMIX_MATCH_EQUAL : GLMIX_MATCH_OVERLAP;
		mt->lcol = m->lcol;
		mt->ccol = m->ccol;
		if (m->base != end)
			ENC_CORRUPT("Match %d starts at %d, not %lld.", q, m->base, (long long) end);
		mt->base = m->base;
		end += GLMIX_MATCH_WIDTH(mt->kind);
		if (end > e->lay.dim)
			ENC_CORRUPT("Match %d ends beyond the %d features.", q, e->lay.dim);
		if (m->nmap != lc->end - lc->start)
			ENC_CORRUPT("Match %d maps %d values of a column of %d.", q, m->nmap, lc->end - lc->start);
		mt->lmap = take(r, sizeof(int32), m->nmap, "match maps");
		for (int k = 0; k < m->nmap; k++)
			if (mt->lmap[k] < -1 || mt->lmap[k] >= cc->end - cc->start)
				ENC_CORRUPT("Match %d maps value %d to %d, outside the course column's %d values.",
							q, k, mt->lmap[k], cc->end - cc->start);
	}
	/* a match looks a learner's value up by binary search among the course's */
	if (mh->nmatch > 0)
		for (int i = 0; i < e->courses->n; i++)
			for (int32 k = e->courses->ptr[i] + 1; k < e->courses->ptr[i + 1]; k++)
				if (e->courses->col[k] <= e->courses->col[k - 1])
					ENC_CORRUPT("The course side's features do not ascend at row %d.", i);
	return end;
}

GlmixFlatEnc *
glmix_flat_decode(bytea *b)
{
	EncReader	r = {VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)};
	FlatEncHeader *h = take(&r, sizeof(FlatEncHeader), 1, "header");
	GlmixFlatEnc *e = palloc0(sizeof(GlmixFlatEnc));
	int64		end;

	if (h->magic != FLAT_ENC_MAGIC || h->version != FLAT_ENC_VERSION)
		ENC_CORRUPT("Magic %08x, version %d.", h->magic, h->version);
	if (h->dim <= 0 || h->dim > GLMIX_MAX_FIXED_DIM || h->ncross < 0 || h->nlabels < 0 ||
		h->nlabels > 2 || h->min_rows < 0 || h->re_dim < 0 || h->re_dim > 1024 ||
		h->hash_bits < 0 || h->hash_bits > GLMIX_MAX_HASH_BITS || (h->hash_bits > 0 && h->ncross == 0) ||
		(h->weights & ~(GLMIX_FLAT_WEIGHT_SECONDS | GLMIX_FLAT_WEIGHT_COLUMN)) != 0)
		ENC_CORRUPT("The header's counts are out of range.");
	e->lay.dim = h->dim;
	e->lay.intercept = h->intercept != 0;
	e->lay.l_base = h->l_base;
	e->lay.c_base = h->c_base;
	e->lay.ncross = h->ncross;
	e->lay.hash_bits = h->hash_bits;
	e->learner_effect = h->learner_effect != 0;
	e->re_intercept = h->re_intercept != 0;
	e->re_dim = h->re_dim;
	e->min_rows = h->min_rows;
	e->nlabels = h->nlabels;
	e->has_time = h->has_time != 0;
	e->weights = h->weights;
	e->course_effect = h->course_effect != 0;
	e->through = h->through;
	e->learners = get_side(&r, "learner");
	e->courses = get_side(&r, "course");
	/* the layout's parts inside the dimension, as glmix_fixed_layout() puts them */
	if (e->lay.l_base != (e->lay.intercept ? 1 : 0) ||
		e->lay.c_base != e->lay.l_base + e->learners->nmodel ||
		(int64) e->lay.c_base + e->courses->nmodel > e->lay.dim)
		ENC_CORRUPT("The fixed layout does not fit its %d features.", e->lay.dim);
	if (e->learner_effect &&
		e->re_dim != (e->re_intercept ? 1 : 0) + e->courses->nmodel)
		ENC_CORRUPT("The learner effect's dimension %d does not match the courses' features.",
					e->re_dim);
	e->lay.cross = palloc0(sizeof(GlmixCross) * Max(h->ncross, 1));
	end = (int64) e->lay.c_base + e->courses->nmodel;
	for (int p = 0; p < h->ncross; p++)
	{
		int32	   *x = take(&r, sizeof(int32), 3, "crosses");
		const GlmixColumn *lc,
				   *cc;

		if (x[0] < 0 || x[0] >= e->learners->ncols || x[1] < 0 || x[1] >= e->courses->ncols)
			ENC_CORRUPT("Cross %d names column %d x %d.", p, x[0], x[1]);
		lc = &e->learners->cols[x[0]];
		cc = &e->courses->cols[x[1]];
		if (lc->end > e->learners->nmodel || cc->end > e->courses->nmodel)
			ENC_CORRUPT("Cross %d names a column read for matches only.", p);
		if (x[2] != end)
			ENC_CORRUPT("Cross %d starts at %d, not %lld.", p, x[2], (long long) end);
		/* hashed, every cross starts where the shared buckets do */
		if (e->lay.hash_bits == 0)
			end += (int64) (lc->end - lc->start) * (cc->end - cc->start);
		if (end > e->lay.dim)
			ENC_CORRUPT("Cross %d ends beyond the %d features.", p, e->lay.dim);
		e->lay.cross[p].lcol = x[0];
		e->lay.cross[p].ccol = x[1];
		e->lay.cross[p].base = x[2];
	}
	if (h->hash_base != end)
		ENC_CORRUPT("The hashed buckets start at %d, not %lld.", h->hash_base, (long long) end);
	e->lay.hash_base = h->hash_base;
	if (e->lay.hash_bits > 0)
	{
		end += (int64) 1 << e->lay.hash_bits;
		e->lay.lhash = take(&r, sizeof(uint64), e->learners->nfeat, "learner feature hashes");
		e->lay.chash = take(&r, sizeof(uint64), e->courses->nfeat, "course feature hashes");
	}
	end = get_matches(&r, e, end);
	if (end != e->lay.dim)
		ENC_CORRUPT("The layout's parts hold %lld features, not %d.", (long long) end, e->lay.dim);
	if (r.left != 0)
		ENC_CORRUPT("%zu bytes follow the encoding.", r.left);
	return e;
}
