/*
 * keys.h -- uuid and text ids: the id dictionary (recs.id_key) between a
 * platform's keys and the int64 ids every model uses
 */
#ifndef RECS_KEYS_H
#define RECS_KEYS_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* how a model's learners or courses are keyed (recs.model.learner_key, course_key) */
typedef enum RecsKeyType
{
	RECS_KEY_INTEGER = 0,		/* bigint, integer, smallint: the ids themselves */
	RECS_KEY_UUID,				/* uuid: through recs.id_key */
	RECS_KEY_TEXT				/* text, varchar: through recs.id_key */
} RecsKeyType;

typedef enum RecsKeySide
{
	RECS_SIDE_LEARNER = 0,
	RECS_SIDE_COURSE
} RecsKeySide;

/* a training (or evaluation) starts: forget the key types seen so far */
extern void keys_begin(void);

/*
 * A reader's FROM over one relation, with a join to the dictionary for
 * each key column it reads: keys_from_init, then keys_id for each id
 * column, then keys_from for the FROM item (the relation, unaliased, so
 * the query may name its columns as before).
 */
typedef struct KeysFrom
{
	Oid			relid;
	char	   *relname;
	StringInfoData joins;
	int			njoins;
	uint64		added;			/* keys added to the dictionary for it */
} KeysFrom;

extern void keys_from_init(KeysFrom *f, Oid relid);

/*
 * The SQL expression (int8) of id column col: the column itself for an
 * integer column; for a uuid or text column, its id in recs.id_key (a hash
 * join the FROM item brings), after adding the column's keys the
 * dictionary does not hold yet.  Errors when the column's type is none of
 * these, or when this training keyed the same side by integers in one
 * relation and by keys in another.
 */
extern char *keys_id(KeysFrom *f, const char *col, const char *argname, RecsKeySide side);

/*
 * The FROM item: the relation and its dictionary joins.  When keys_id added
 * many keys, it first analyzes the dictionary (keys_analyze_after_adding),
 * so that the reader's plan sees them.
 */
extern char *keys_from(KeysFrom *f);

/*
 * The same for an array column of ids (int8[]): integer arrays as they are,
 * uuid[] and text[] element by element in order (a lateral join the FROM
 * item brings), after adding their keys.
 */
extern char *keys_id_array_expr(KeysFrom *f, const char *col, const char *argname, RecsKeySide side);

/*
 * How a message names a learner or course this training read: the id, or
 * for keys the quoted key.  Needs an SPI connection.
 */
extern char *keys_id_name(RecsKeySide side, int64 id);

/*
 * After a training added keys to recs.id_key: ANALYZE it (as its owner) when
 * they are more than autovacuum's analyze threshold of the rows the planner
 * believes it holds (keys_stats.c).  Needs an SPI connection.  keys_from
 * calls it.
 */
extern void keys_analyze_after_adding(uint64 added);

/* the key type this training read for a side (RECS_KEY_INTEGER if none) */
extern RecsKeyType keys_training_type(RecsKeySide side);

/* "bigint", "uuid", "text"; and back (NULL or unknown: integer) */
extern const char *keys_type_name(RecsKeyType t);
extern RecsKeyType keys_type_by_name(const char *name);

#endif							/* RECS_KEYS_H */
