/*
 * serving.h -- the serving core: a table of model kinds, the model and
 * learner a call serves, and the scores every kind gives
 *
 * Each model kind registers a ServingKind at module load (recs.c), the way
 * an index access method hands PostgreSQL its IndexAmRoutine: its scorers,
 * what its scores mean and what its stored learner history is.  Serving
 * code never asks for a kind by name: it resolves a model once
 * (serving_model_by_id, serving_active_model) and calls through
 * model->routine.  The kinds' own files implement the routines; this core
 * knows none of them, so no file of the core depends on a kind.
 */
#ifndef RECS_SERVING_H
#define RECS_SERVING_H

#include "postgres.h"

#include "fmgr.h"

struct ServingKind;

typedef struct ServingModel
{
	int64		model_id;
	uint64		stamp;			/* recs.model.cache_token, see serving_cache.h */
	char		kind[16];		/* recs.model.kind, for messages */
	int8		learner_key;	/* recs.model.learner_key, course_key (keys.h) */
	int8		course_key;
	const struct ServingKind *routine;
} ServingModel;

/*
 * The model deployed in slot; errors with a hint when there is none.  Both
 * serve bigint ids: a model keyed by uuid or text is an error outside the
 * key functions (serving_check_ids).
 */
extern void serving_active_model(const char *slot, ServingModel *out);
/* a model by id; errors when it does not exist */
extern void serving_model_by_id(int64 model_id, ServingModel *out);
/*
 * The model a serving call names: its model argument (an id) or its slot
 * argument (a deployment slot; an unknown slot is an error).  Naming both
 * is an error.  Neither: the "default" slot when default_slot, else false
 * (the call returns NULL, as a STRICT function does).  A slot_arg beyond
 * PG_NARGS() (a 0.3.0 definition not yet updated) counts as NULL.
 */
extern bool serving_model_arg(FunctionCallInfo fcinfo, int model_arg, int slot_arg,
							  bool default_slot, ServingModel *out);
/* the same for any ids: the caller has checked or mapped them */
extern bool serving_model_arg_any_ids(FunctionCallInfo fcinfo, int model_arg, int slot_arg,
									  bool default_slot, ServingModel *out);
extern void serving_model_any_ids(int64 model_id, ServingModel *out);
extern void serving_active_model_any_ids(const char *slot, ServingModel *out);

/* ---- serving_keys.c: uuid and text keys (src/ingest/keys.c) ---- */
extern void serving_keys_define_guc(void);
/* errors unless the model's ids are bigint or the call maps keys */
extern void serving_check_ids(const ServingModel *m);
/* allow dictionary ids (the keyed C functions, around their bigint call); returns the previous */
extern bool serving_keys_allow(bool allow);
/* errors unless relations keyed this way suit the model (what: for messages) */
extern void serving_check_key_types(const ServingModel *m, int learner_key, int course_key,
									const char *what);

/* a learner as the model knows them */
typedef struct ServingLearner
{
	int64		learner_id;
	bool		known;
	char	   *language;		/* NULL when unknown */
	int			nwatched;
	int64	   *watched;		/* ascending course ids */
	int			nrecent;		/* watches the caller reports since training */
	int64	   *recent;			/* (recommend's recent argument); may be 0 */
} ServingLearner;

extern void serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out);

/*
 * A model's scores for one learner over the model's course catalogue.
 * course_id is ascending and belongs to the serving cache; score is
 * allocated by the scorer in the caller's memory context.  NaN means the
 * model cannot rank that course for this learner.
 */
typedef struct CourseScores
{
	int			n;
	const int64 *course_id;
	double	   *score;
	/*
	 * A re-ranking blend: the first `pool` eligible courses by `generator`
	 * (its first component's scores) rank first, then the rest, each part by
	 * score.  pool = 0 (every other model): by score alone.
	 */
	int			pool;
	const double *generator;
} CourseScores;

/* scores of every course for the learner, by the model's kind */
extern void serving_score_courses(const ServingModel *m, const ServingLearner *l,
								  CourseScores *out);
/*
 * What serving_score_courses() gives the listed courses (NaN for a course
 * the model cannot rank), at the cost of those courses where the kind
 * allows: a blend's training needs a few courses per learner.
 */
extern void serving_score_listed(const ServingModel *m, const ServingLearner *l, int n,
								 const int64 *course_ids, double *out);
/*
 * The serving order: indexes of the k best eligible courses (skip[i] false),
 * best first -- what recommend() returns and evaluate() measures.
 */
extern int	serving_top_k(const CourseScores *cs, const bool *skip, int k, int *out);
/*
 * A re-ranking blend's served scores (a no-op for other models): when an
 * eligible course outside the pool scores at or above the pool's lowest,
 * every course outside the pool is shifted down by the same amount, to one
 * below it, so that score does not increase with rank.
 */
extern void serving_rerank_scores(CourseScores *cs, const bool *skip);
/* recs.score's number: the kind's pair score; NaN when the model cannot place the course */
extern double serving_score_pair(const ServingModel *m, int64 learner_id, int64 course_id);
/* the model whose course embeddings serve similar_courses and maps, or false */
extern bool serving_embeddings(const ServingModel *m, ServingModel *out);
/* index of course_id in the scores' catalogue, or -1 */
extern int	course_scores_index(const CourseScores *cs, int64 course_id);

/*
 * A kind's routines.  Scorers allocate their results in the caller's memory
 * context; model parts come from the serving cache.
 */
typedef struct ServingKind
{
	const char *name;			/* recs.model.kind */

	/*
	 * Its scores are probabilities (evaluate's response protocol takes their
	 * logit); otherwise they are logits or other unbounded scores.
	 */
	bool		probability;

	/*
	 * How a blend takes its scores: "logit" (of a probability) or
	 * "identity"; NULL when the kind cannot be a blend's component.
	 */
	const char *blend_transform;

	/*
	 * Its recs.model_learner histories are watches (what recommend()
	 * excludes); GLMix keeps the courses a learner responded to instead.
	 */
	bool		history_is_watches;

	/* scores of the model's whole course catalogue; NULL: cannot rank alone */
	void		(*score_courses) (const ServingModel *m, const ServingLearner *l,
								  CourseScores *out);

	/*
	 * Scores of the listed courses (NaN for a course it cannot score), at
	 * the cost of those courses; NULL: taken from score_courses.
	 */
	void		(*score_listed) (const ServingModel *m, const ServingLearner *l, int n,
								 const int64 *course_ids, double *out);

	/*
	 * The model's score of one pair (recs.score), NaN when the course is
	 * not scored; NULL: taken from score_listed for a stored learner.
	 */
	double		(*score_pair) (const ServingModel *m, int64 learner_id, int64 course_id);

	/*
	 * The model whose course embeddings stand for this one's (similar
	 * courses, maps): itself for NCF, a blend's NCF component; false if none.
	 */
	bool		(*embeddings) (const ServingModel *m, ServingModel *out);
} ServingKind;

/* ---- serving_kinds.c: the registry ---- */
extern void serving_register_kind(const ServingKind *kind);
/* the registered kind of that name, or NULL */
extern const ServingKind *serving_kind_by_name(const char *name);

#endif							/* RECS_SERVING_H */
