/*
 * serving_keys.c -- which ids a serving call speaks: a model's own bigint
 * ids, or recs.id_key's ids of its uuid or text keys
 *
 * A model trained on uuid or text keys stores recs.id_key's ids, which are
 * no one's learner or course id: a bigint call on such a model would serve
 * whoever has that dictionary id.  So the bigint serving functions refuse
 * it, and the uuid and text serving functions (src/install/75_keys.sql),
 * which map keys to dictionary ids and back, run with recs.dictionary_ids
 * on: a function-level SET, undone when the function returns or fails.
 * The check costs the bigint path two columns of the model row it reads
 * anyway and one comparison.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "keys.h"
#include "serving.h"

static bool dictionary_ids = false;

void
serving_keys_define_guc(void)
{
	DefineCustomBoolVariable("recs.dictionary_ids",
							 "Serving calls pass and receive recs.id_key ids of uuid- and text-keyed models.",
							 "Set by the uuid and text serving functions for their own calls; not for direct use.",
							 &dictionary_ids,
							 false,
							 PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}

bool
serving_keys_allow(bool allow)
{
	bool		before = dictionary_ids;

	dictionary_ids = allow;
	return before;
}

void
serving_check_ids(const ServingModel *m)
{
	if (dictionary_ids || (m->learner_key == RECS_KEY_INTEGER && m->course_key == RECS_KEY_INTEGER))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("recs model " INT64_FORMAT " keys learners by %s and courses by %s, not by bigint",
					m->model_id, keys_type_name((RecsKeyType) m->learner_key),
					keys_type_name((RecsKeyType) m->course_key)),
			 errdetail("Its bigint ids are recs.id_key's, which stand for keys; a bigint id would be taken for someone else's key."),
			 errhint("Pass the ids as %s, e.g. recs.recommend('...'::%s).",
					 keys_type_name((RecsKeyType) m->learner_key),
					 keys_type_name((RecsKeyType) m->learner_key))));
}

void
serving_check_key_types(const ServingModel *m, int learner_key, int course_key,
						const char *what)
{
	if ((m->learner_key == RECS_KEY_INTEGER) == (learner_key == RECS_KEY_INTEGER) &&
		(m->course_key == RECS_KEY_INTEGER) == (course_key == RECS_KEY_INTEGER))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s keys learners by %s and courses by %s, but recs model " INT64_FORMAT
					" keys them by %s and %s", what,
					keys_type_name((RecsKeyType) learner_key), keys_type_name((RecsKeyType) course_key),
					m->model_id, keys_type_name((RecsKeyType) m->learner_key),
					keys_type_name((RecsKeyType) m->course_key)),
			 errhint("Use relations keyed as the model's training relations were.")));
}
