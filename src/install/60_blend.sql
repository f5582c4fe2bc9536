-- 60_blend.sql -- the personalised blend of component models.

CREATE TABLE recs.blend_component (
    model_id     bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 1),
    component_id bigint NOT NULL REFERENCES recs.model (model_id),
    transform    text NOT NULL CHECK (transform IN ('identity', 'logit')),
    mean         float8 NOT NULL,
    sd           float8 NOT NULL CHECK (sd > 0),
    PRIMARY KEY (model_id, position)
);
COMMENT ON TABLE recs.blend_component IS
    'per blend: its component models in feature order, with the standardisation of their scores';

CREATE TABLE recs.blend_coef (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    coordinate text NOT NULL,
    entity     text,
    coefs      float8[] NOT NULL,
    UNIQUE NULLS NOT DISTINCT (model_id, coordinate, entity)
);
COMMENT ON TABLE recs.blend_coef IS
    'per blend: coefficients [intercept, component 1, ...] of the global effect (entity NULL) and of each random-effect entity';

CREATE TABLE recs.blend_learner (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    learner_id bigint NOT NULL,
    keys       text[] NOT NULL,
    PRIMARY KEY (model_id, learner_id)
);
COMMENT ON TABLE recs.blend_learner IS
    'per blend: each learner''s key for every random effect that is not keyed by the learner id (e.g. their segment)';

SELECT pg_catalog.pg_extension_config_dump('recs.blend_component', '');
SELECT pg_catalog.pg_extension_config_dump('recs.blend_coef', '');
SELECT pg_catalog.pg_extension_config_dump('recs.blend_learner', '');

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
    rerank_top integer DEFAULT 0,
    learners_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_blend'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint, integer, text) IS
    'train a personalised blend (a GLMix over component model scores) on impressions after the components'' training data';
