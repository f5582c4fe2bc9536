-- 40_ncf.sql -- the two-tower neural collaborative filtering model (NCF):
-- its part tables, training, and serving functions.

-- Tower parameters.  Layer 0 is the sparse layer: its weight has one row of
-- n_out floats per input course, in the order of recs.ncf_course.input_row.
CREATE TABLE recs.ncf_layer (
    model_id bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    tower    text NOT NULL CHECK (tower IN ('learner', 'course')),
    layer    integer NOT NULL CHECK (layer >= 0),
    n_in     integer NOT NULL CHECK (n_in > 0),
    n_out    integer NOT NULL CHECK (n_out > 0),
    weight   real[] NOT NULL,
    bias     real[] NOT NULL,
    PRIMARY KEY (model_id, tower, layer)
);
COMMENT ON TABLE recs.ncf_layer IS
    'per NCF model: the weights (n_in x n_out, row-major) and biases of each layer of both towers; layer 0 is the sparse layer';

CREATE TABLE recs.ncf_course (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    course_id bigint NOT NULL,
    input_row integer NOT NULL CHECK (input_row >= 0),
    watchers  integer NOT NULL CHECK (watchers >= 0),
    embedding real[] NOT NULL,
    PRIMARY KEY (model_id, course_id)
);
COMMENT ON TABLE recs.ncf_course IS
    'per NCF model: each course''s embedding (the course tower''s output), its row in the sparse layers and its number of training watchers';

CREATE TABLE recs.ncf_learner (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    learner_id bigint NOT NULL,
    embedding  real[] NOT NULL,
    PRIMARY KEY (model_id, learner_id)
);
COMMENT ON TABLE recs.ncf_learner IS
    'per NCF model: each learner''s embedding, from the learner tower over their watches in the window ending at the end of the training data';

CREATE TABLE recs.ncf_cowatch (
    model_id     bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    course_id    bigint NOT NULL,
    neighbour_id bigint NOT NULL,
    similarity   real NOT NULL CHECK (similarity > 0 AND similarity <= 1.0001),
    PRIMARY KEY (model_id, course_id, neighbour_id)
);
COMMENT ON TABLE recs.ncf_cowatch IS
    'per NCF model: the course tower''s input, the top-N co-watch cosine similarities of each course (training watches only)';

SELECT pg_catalog.pg_extension_config_dump('recs.ncf_layer', '');
SELECT pg_catalog.pg_extension_config_dump('recs.ncf_course', '');
SELECT pg_catalog.pg_extension_config_dump('recs.ncf_learner', '');
SELECT pg_catalog.pg_extension_config_dump('recs.ncf_cowatch', '');

CREATE FUNCTION recs.train_ncf(
    watches regclass,
    name text DEFAULT 'ncf',
    courses regclass DEFAULT NULL,
    min_watch_seconds float8 DEFAULT 60,
    window_days float8 DEFAULT 365,
    labels_from timestamptz DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    layers integer[] DEFAULT '{256,128}',
    dim integer DEFAULT 64,
    epochs integer DEFAULT 20,
    negatives integer DEFAULT 4,
    learning_rate float8 DEFAULT 0.001,
    batch_size integer DEFAULT 256,
    l2 float8 DEFAULT 0,
    neighbours integer DEFAULT 50,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds')
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text) IS
    'train a two-tower neural collaborative filtering model from a watches relation; returns the model id';

CREATE FUNCTION recs.score(model bigint, learner_id bigint, course_id bigint)
RETURNS float8
AS 'MODULE_PATHNAME', 'ncf_score'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.score(bigint, bigint, bigint) IS
    'an NCF model''s score (logit) of a course for a learner: the dot product of their embeddings';

CREATE FUNCTION recs.similar_courses(course_id bigint, k integer DEFAULT 10,
    model bigint DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'ncf_similar_courses'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.similar_courses(bigint, integer, bigint) IS
    'the k courses whose NCF embeddings are closest (cosine) to a course''s, itself excluded; default model: the active one';

CREATE FUNCTION recs.embed_learner(model bigint, course_ids bigint[])
RETURNS real[]
AS 'MODULE_PATHNAME', 'ncf_embed_learner'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.embed_learner(bigint, bigint[]) IS
    'a learner embedding computed by an NCF model''s learner tower from a list of watched courses';

-- private functions ---------------------------------------------------------

CREATE FUNCTION recs._ncf_training_contexts(
    watches regclass,
    window_days float8 DEFAULT 365,
    min_watch_seconds float8 DEFAULT 60,
    labels_from timestamptz DEFAULT NULL,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds')
RETURNS TABLE (learner_id bigint, course_id bigint, label_time timestamptz, context bigint[])
AS 'MODULE_PATHNAME', 'ncf_training_contexts'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs._ncf_training_contexts(regclass, float8, float8, timestamptz,
    text, text, text, text) IS
    'private, for tests: each training positive of train_ncf and its learner-tower context, from the trainer''s own code';
