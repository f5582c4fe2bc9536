-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit

-- GLMix match features and hashed crosses (issue #13 item 2): the fixed
-- coordinate records its matches and hash_bits, glmix_column the names of
-- the columns read for matches only; train_glmix gains hash_bits.
ALTER TABLE recs.glmix_coordinate
    ADD COLUMN matches text[],
    ADD COLUMN hash_bits integer CHECK (hash_bits > 0);
-- a column read for matches only: its features' names (it has no coefficients)
ALTER TABLE recs.glmix_column ADD COLUMN value_names text[];
DROP FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text);
CREATE FUNCTION recs.train_glmix(
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[],
    course_features text[],
    name text DEFAULT 'glmix',
    label text DEFAULT 'clicked',
    weighting text DEFAULT 'none',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 3,
    random_effects text[] DEFAULT NULL,
    crosses text[] DEFAULT NULL,
    min_rows integer DEFAULT 1,
    max_rows integer DEFAULT NULL,
    intercepts boolean[] DEFAULT NULL,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    validation regclass DEFAULT NULL,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    seconds_column text DEFAULT 'watch_seconds',
    weight_column text DEFAULT NULL,
    hash_bits integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, integer) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent; returns the model id';
