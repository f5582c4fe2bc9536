-- 40_ncf.sql -- the two-tower neural collaborative filtering model (NCF):
-- its part tables, training, and serving functions.

-- Tower parameters.  Layer 0 is the sparse layer: its weight has one row of
-- n_out floats per input course, in the order of recs.ncf_course.input_row.
-- The learner tower's attention encoder (encoder => 'attention') is one row
-- of tower 'attention', layer 0.
CREATE TABLE recs.ncf_layer (
    model_id bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    tower    text NOT NULL CHECK (tower IN ('learner', 'course', 'attention')),
    layer    integer NOT NULL CHECK (layer >= 0),
    n_in     integer NOT NULL CHECK (n_in > 0),
    n_out    integer NOT NULL CHECK (n_out > 0),
    weight   real[] NOT NULL,
    bias     real[] NOT NULL,
    PRIMARY KEY (model_id, tower, layer)
);
COMMENT ON TABLE recs.ncf_layer IS
    'per NCF model: the weights (n_in x n_out, row-major) and biases of each layer of both towers; layer 0 is the sparse layer; with encoder attention one more row, tower attention: the position embeddings (n_in = attention_window rows, latest watch first) as weight, the query as bias';

CREATE TABLE recs.ncf_course (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    course_id bigint NOT NULL,
    input_row integer CHECK (input_row >= 0),
    watchers  integer NOT NULL CHECK (watchers >= 0),
    embedding real[] NOT NULL,
    trend     real NOT NULL DEFAULT 0,
    affinity  integer[],
    predecessor bigint,
    statistics real[],
    PRIMARY KEY (model_id, course_id)
);
COMMENT ON TABLE recs.ncf_course IS
    'per NCF model: each course''s embedding (the course tower''s output), its row in the sparse layers (NULL: added by add_courses after training) and its number of training watchers';
COMMENT ON COLUMN recs.ncf_course.trend IS
    'train_ncf(trend_days): the course''s trend term at the end of the training data, added to every score of the course (0: no trend)';
COMMENT ON COLUMN recs.ncf_course.affinity IS
    'train_ncf(affinity_columns): the course''s value of each affinity column, as its place in params->''history''->''affinity_values'' (0-based; -1: none); NULL: no affinity columns';
COMMENT ON COLUMN recs.ncf_course.predecessor IS
    'train_ncf(path_columns): the course before this one in its series (the highest order below its own); NULL: none';
COMMENT ON COLUMN recs.ncf_course.statistics IS
    'train_ncf(affinity_columns, path_columns): the course''s ln(1 + training watches), ln(1 + watches in the last 30 days) and ln(1 + days since its first watch), at the end of the training data; NULL: no history terms (or added by add_courses: 0, 0, 0)';

CREATE TABLE recs.ncf_learner (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    learner_id bigint NOT NULL,
    embedding  real[] NOT NULL,
    context    bigint[],
    PRIMARY KEY (model_id, learner_id)
);
COMMENT ON TABLE recs.ncf_learner IS
    'per NCF model: each learner''s embedding, from the learner tower over their watches in the window ending at their own latest training watch (models before 0.4.0: at the end of the training data)';
COMMENT ON COLUMN recs.ncf_learner.context IS
    'the course ids the embedding was computed from (the window ending at the learner''s latest watch, in time order), extended by recommend''s recent argument; NULL for models trained before 0.4.0';

CREATE TABLE recs.ncf_cowatch (
    model_id     bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    course_id    bigint NOT NULL,
    neighbour_id bigint NOT NULL,
    similarity   real NOT NULL CHECK (similarity > 0 AND similarity <= 1.0001),
    PRIMARY KEY (model_id, course_id, neighbour_id)
);
COMMENT ON TABLE recs.ncf_cowatch IS
    'per NCF model: the course tower''s input, the top-N co-watch cosine similarities of each course (training watches only)';

-- The content vocabulary of a model trained with course_features: each
-- feature column's values and their rows in the course tower's sparse layer
-- (after the courses' rows).
CREATE TABLE recs.ncf_course_feature (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    feature   text NOT NULL,
    value     text NOT NULL,
    input_row integer NOT NULL CHECK (input_row >= 0),
    PRIMARY KEY (model_id, feature, value)
);
COMMENT ON TABLE recs.ncf_course_feature IS
    'per NCF model trained with course_features: each feature value (column, value as text) and its row in the course tower''s sparse layer';

SELECT pg_catalog.pg_extension_config_dump('recs.ncf_layer', '');
SELECT pg_catalog.pg_extension_config_dump('recs.ncf_course_feature', '');
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
    epochs integer DEFAULT NULL,
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
    seconds_column text DEFAULT 'watch_seconds',
    courses_id_column text DEFAULT NULL,
    order_decay float8 DEFAULT 1,
    course_features text[] DEFAULT NULL,
    content_dropout float8 DEFAULT 0.3,
    encoder text DEFAULT 'bag',
    attention_window integer DEFAULT 20,
    loss text DEFAULT 'auto',
    validation text DEFAULT 'none',
    context_norm text DEFAULT 'none',
    trend_days float8 DEFAULT NULL,
    ensemble integer DEFAULT 1,
    half_life_days float8 DEFAULT NULL,
    trend_weight float8 DEFAULT NULL,
    affinity_columns text[] DEFAULT NULL,
    path_columns text[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8, text[], float8,
    text, integer, text, text, text, float8, integer, float8, float8, text[], text[]) IS
    'train a two-tower neural collaborative filtering model from a watches relation (with course_features: content inputs of the course tower; with trend_days: a learned term of each course''s recent watch count, served times trend_weight; with ensemble: several models trained and merged into one; with affinity_columns or path_columns: history terms fitted on the validation slice); returns the model id';

-- explain_recommendation's rows for a model with history terms (ncf_explain.c):
-- not PUBLIC, as it reads the serving cache and the learner's stored rows
CREATE FUNCTION recs._ncf_history_terms(model bigint, learner_id bigint, course_id bigint)
RETURNS TABLE (term text, value float8, weight float8, contribution float8)
AS 'MODULE_PATHNAME', 'ncf_history_terms'
LANGUAGE C STABLE;
REVOKE EXECUTE ON FUNCTION recs._ncf_history_terms(bigint, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION recs._ncf_history_terms(bigint, bigint, bigint) IS
    'private, for explain_recommendation: an NCF model''s served score taken apart into its history terms (feature value, weight, contribution; the first row the towers'' part); no rows for other models';

CREATE FUNCTION recs.score(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_pair'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.score(bigint, bigint, bigint, text) IS
    'a model''s (or a slot''s model''s) score of one (learner, course) pair, the number recommend() ranks by: NCF dot product, GLMix probability, popularity share, blend logit; NULL for a course the model cannot place';

CREATE FUNCTION recs.similar_courses(course_id bigint, k integer DEFAULT 10,
    model bigint DEFAULT NULL, slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'ncf_similar_courses'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.similar_courses(bigint, integer, bigint, text) IS
    'the k courses whose NCF embeddings are closest (cosine) to a course''s, itself excluded; default model: the active one; a blend: its NCF component';

CREATE FUNCTION recs.embed_learner(model bigint, course_ids bigint[], slot text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'ncf_embed_learner'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.embed_learner(bigint, bigint[], text) IS
    'a learner embedding computed by an NCF model''s learner tower (a blend: its NCF component''s) from a list of watched courses';

CREATE FUNCTION recs.embed_course(model bigint, features jsonb, slot text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'ncf_embed_course'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.embed_course(bigint, jsonb, text) IS
    'a course embedding computed by an NCF model''s course tower (a blend: its NCF component''s) from feature values alone, {"column": value or [values]}: a course published since training';

-- runs as the caller: it reads the caller's relation and writes the model
CREATE FUNCTION recs.add_courses(model bigint, courses regclass, courses_id_column text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ncf_add_courses'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.add_courses(bigint, regclass, text) IS
    'add the courses of a relation an NCF model trained with course_features does not hold, embedded from their features, so that recommend() and score() serve them without retraining; returns how many were added';

CREATE FUNCTION recs.course_map(model bigint, slot text DEFAULT NULL)
RETURNS TABLE (course_id bigint, x float8, y float8)
AS 'MODULE_PATHNAME', 'ncf_course_map'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.course_map(bigint, text) IS
    'a 2-D map of an NCF model''s (a blend: its NCF component''s) course embeddings: their projection on the two leading principal components';

CREATE FUNCTION recs.course_map_svg(
    model bigint,
    courses regclass,
    color_column text DEFAULT 'language',
    width integer DEFAULT 760,
    height integer DEFAULT 560,
    course_column text DEFAULT 'course_id')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    palette constant text[] := ARRAY['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                                     '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
    col text;
    svg text;
BEGIN
    FOREACH col IN ARRAY ARRAY['model', 'courses', 'color_column', 'width', 'height', 'course_column'] LOOP
        IF (col = 'model' AND model IS NULL) OR (col = 'courses' AND courses IS NULL)
           OR (col = 'color_column' AND color_column IS NULL) OR (col = 'width' AND width IS NULL)
           OR (col = 'height' AND height IS NULL) OR (col = 'course_column' AND course_column IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', col);
        END IF;
    END LOOP;
    IF width < 200 OR height < 150 OR width > 10000 OR height > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'width and height must be between 200x150 and 10000x10000 pixels';
    END IF;
    FOREACH col IN ARRAY ARRAY[color_column, course_column] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = courses
                          AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_column',
                MESSAGE = format('column "%s" does not exist in relation %s', col, courses),
                HINT = 'Name the column to colour by with color_column, the course id column with course_column.';
        END IF;
    END LOOP;
    -- an error of the map (no such model, not an NCF model) is reported as
    -- course_map's own, without the query below in its context
    BEGIN
    EXECUTE format($q$
        WITH m AS (SELECT * FROM recs.course_map($1)),
             c AS (SELECT DISTINCT ON (1) %1$I::bigint AS course_id, %2$I::text AS grp
                     FROM %3$s WHERE %1$I IS NOT NULL ORDER BY 1, 2),
             p AS (SELECT m.course_id, m.x, m.y, coalesce(c.grp, '(none)') AS grp
                     FROM m LEFT JOIN c USING (course_id)),
             g AS (SELECT grp, count(*) AS n,
                          row_number() OVER (ORDER BY count(*) DESC, grp) AS k
                     FROM p GROUP BY grp),
             b AS (SELECT min(x) AS x0, greatest(max(x) - min(x), 1e-12) AS dx,
                          max(y) AS y1, greatest(max(y) - min(y), 1e-12) AS dy FROM p),
             esc AS (SELECT p.*, g.k,
                            replace(replace(replace(p.grp, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') AS label
                       FROM p JOIN g USING (grp))
        SELECT format('<svg xmlns="http://www.w3.org/2000/svg" width="%%s" height="%%s" viewBox="0 0 %%s %%s" font-family="sans-serif" font-size="12">',
                      $2, $3, $2, $3)
            || '<rect width="100%%" height="100%%" fill="white"/>'
            || (SELECT string_agg(format('<circle cx="%%s" cy="%%s" r="3.5" fill="%%s" fill-opacity="0.8"><title>course %%s (%%s)</title></circle>',
                                         round((30 + (e.x - b.x0) / b.dx * ($2 - 250))::numeric, 1),
                                         round((30 + (b.y1 - e.y) / b.dy * ($3 - 60))::numeric, 1),
                                         CASE WHEN e.k <= 10 THEN $4[e.k] ELSE '#c7c7c7' END,
                                         e.course_id, e.label), '' ORDER BY e.course_id)
                  FROM esc e, b)
            || (SELECT string_agg(format('<circle cx="%%s" cy="%%s" r="5" fill="%%s"/><text x="%%s" y="%%s">%%s (%%s)</text>',
                                         $2 - 195, 30 + 20 * (g.k - 1),
                                         $4[g.k], $2 - 185, 34 + 20 * (g.k - 1),
                                         replace(replace(replace(g.grp, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), g.n),
                                  '' ORDER BY g.k)
                  FROM g WHERE g.k <= 10)
            || (SELECT CASE WHEN count(*) > 0
                            THEN format('<circle cx="%%s" cy="%%s" r="5" fill="#c7c7c7"/><text x="%%s" y="%%s">other (%%s)</text>',
                                        $2 - 195, 230, $2 - 185, 234, sum(g.n))
                            ELSE '' END
                  FROM g WHERE g.k > 10)
            || format('<text x="30" y="%%s" fill="#555">PCA of the course embeddings of NCF model %%s, coloured by %%s</text>',
                      $3 - 10, $1, %4$L)
            || '</svg>'
        $q$, course_column, color_column, courses, color_column)
        INTO svg USING model, width, height, palette;
    EXCEPTION WHEN OTHERS THEN
        DECLARE
            st text;
            msg text;
            det text;
            hnt text;
        BEGIN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                    hnt = PG_EXCEPTION_HINT;
            IF det = '' AND hnt = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
            ELSIF det = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
            ELSIF hnt = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
            END IF;
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END;
    END;
    RETURN svg;
END
$fn$;
COMMENT ON FUNCTION recs.course_map_svg(bigint, regclass, text, integer, integer, text) IS
    'an SVG scatter plot of recs.course_map(model), each course coloured by a column of the courses relation';

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

CREATE FUNCTION recs._ncf_softmax_loss(
    scores real[],
    label integer,
    log_q real[],
    temperature real DEFAULT 1,
    OUT loss float8,
    OUT gradient real[])
RETURNS record
AS 'MODULE_PATHNAME', 'ncf_softmax_loss'
LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION recs._ncf_softmax_loss(real[], integer, real[], real) IS
    'private, for tests: one row of train_ncf''s softmax loss (scores, 1-based label, log q per column; -Infinity masks a column) and its gradient with respect to the scores, by the trainer''s own code';

CREATE FUNCTION recs._ncf_trend_counts(
    watches regclass,
    trend_days float8,
    at timestamptz,
    closed boolean DEFAULT false)
RETURNS TABLE (course_id bigint, watches bigint, bucket integer)
AS 'MODULE_PATHNAME', 'ncf_trend_counts'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION recs._ncf_trend_counts(regclass, float8, timestamptz, boolean) IS
    'private, for tests: each watched course''s number of cleaned watches in [at - trend_days, at) ([..., at] when closed) and its trend bucket, by the trainer''s own code (train_ncf''s trend_days)';

CREATE FUNCTION recs._ncf_auto_config(
    positives bigint,
    loss text DEFAULT 'auto',
    epochs integer DEFAULT NULL,
    OUT chosen_loss text,
    OUT chosen_epochs integer)
RETURNS record
AS 'MODULE_PATHNAME', 'ncf_auto_config_sql'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION recs._ncf_auto_config(bigint, text, integer) IS
    'private, for tests: the loss and epochs train_ncf trains with on that many positives, given its loss and epochs arguments (loss ''auto'', epochs NULL: chosen from the data), by the trainer''s own code';
