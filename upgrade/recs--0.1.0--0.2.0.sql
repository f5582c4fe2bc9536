-- recs--0.1.0--0.2.0.sql -- ALTER EXTENSION recs UPDATE TO '0.2.0'.
--
-- 0.2.0 adds rerank_top to recs.train_blend (a blend that re-ranks its first
-- component's best courses).  The shared library serves both definitions:
-- called through the 0.1.0 one it behaves as rerank_top => 0.  Stored models
-- need no change: a blend without rerank_top in its parameters ranks the
-- whole catalogue, as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.2.0'" to load this file. \quit

DROP FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint);

CREATE FUNCTION recs.train_blend(
    components bigint[],
    impressions regclass,
    learners regclass DEFAULT NULL,
    name text DEFAULT 'blend',
    random_effects text[] DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    label text DEFAULT 'clicked',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 2,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    negatives integer DEFAULT 0,
    seed bigint DEFAULT 42,
    rerank_top integer DEFAULT 0)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_blend'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint, integer) IS
    'train a personalised blend (a GLMix over component model scores) on impressions after the components'' training data';
