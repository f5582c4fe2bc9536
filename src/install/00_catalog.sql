-- 00_catalog.sql -- the model catalog: every trained model, which one serves,
-- and the per-model tables shared by all model kinds.
--
-- Source fragment of the install script: the Makefile concatenates
-- src/install/*.sql in name order into recs--<version>.sql.

\echo Use "CREATE EXTENSION recs" to load this file. \quit

CREATE TABLE recs.model (
    model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (name <> ''),
    kind            text NOT NULL
                    CHECK (kind IN ('popularity', 'ncf', 'glmix', 'blend')),
    version         integer NOT NULL CHECK (version > 0),
    status          text NOT NULL DEFAULT 'ready'
                    CHECK (status IN ('ready', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trained_through timestamptz,
    source          jsonb NOT NULL DEFAULT '{}',
    params          jsonb NOT NULL DEFAULT '{}',
    metrics         jsonb NOT NULL DEFAULT '{}',
    -- the serving cache's key with model_id: drawn per row, so two models
    -- that ever share an id (a reset sequence, a restore, one transaction
    -- that drops and retrains) are never taken for each other
    cache_token     bigint NOT NULL DEFAULT (pg_catalog.random() * 9.2e18)::bigint,
    UNIQUE (name, version)
);
COMMENT ON TABLE recs.model IS
    'one row per trained model version; a training inserts its row and all its parts in one transaction';

-- Which model serves recommend().  One row per slot; "default" is the slot
-- recommend() reads.  Changing it is an UPDATE, so it is atomic and MVCC:
-- a client sees either the old or the new model, never a mix.
CREATE TABLE recs.deployment (
    slot         text PRIMARY KEY DEFAULT 'default',
    model_id     bigint NOT NULL REFERENCES recs.model (model_id),
    activated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE recs.deployment IS
    'the model that serves each slot; recs.recommend() serves slot ''default''';

-- Learners known to a model: attributes used for serving and the courses
-- they had watched by the end of the training data (excluded when serving).
CREATE TABLE recs.model_learner (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    learner_id bigint NOT NULL,
    language   text,
    watched    bigint[] NOT NULL,
    PRIMARY KEY (model_id, learner_id)
);
COMMENT ON TABLE recs.model_learner IS
    'per model: each learner''s language and watched courses (sorted ascending) as of the training data';

-- Popularity scores per language group ("" never appears: NULL is the
-- global group used for unknown learners and learners without a language).
CREATE TABLE recs.course_popularity (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    language  text,
    course_id bigint NOT NULL,
    watchers  integer NOT NULL CHECK (watchers >= 0),
    score     float8 NOT NULL,
    UNIQUE NULLS NOT DISTINCT (model_id, language, course_id)
);
COMMENT ON TABLE recs.course_popularity IS
    'per popularity model: smoothed share of a language group''s learners who watched each course in the window (NULL language = everyone)';

-- pg_dump keeps trained models: dump the rows, not just the definitions.
SELECT pg_catalog.pg_extension_config_dump('recs.model', '');
SELECT pg_catalog.pg_extension_config_dump('recs.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('recs.deployment', '');
SELECT pg_catalog.pg_extension_config_dump('recs.model_learner', '');
SELECT pg_catalog.pg_extension_config_dump('recs.course_popularity', '');
