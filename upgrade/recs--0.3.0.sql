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
-- 10_lifecycle.sql -- model lifecycle: activate, drop, list.

CREATE FUNCTION recs.activate(model_id bigint, slot text DEFAULT 'default')
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recs.model m WHERE m.model_id = activate.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model %s does not exist', activate.model_id),
            HINT = 'SELECT * FROM recs.models lists the trained models.';
    END IF;
    INSERT INTO recs.deployment AS d (slot, model_id)
    VALUES (activate.slot, activate.model_id)
    ON CONFLICT ON CONSTRAINT deployment_pkey DO UPDATE
        SET model_id = EXCLUDED.model_id, activated_at = now();
    RETURN activate.model_id;
END
$$;
COMMENT ON FUNCTION recs.activate(bigint, text) IS
    'make a model serve a deployment slot (default: the slot recommend() reads); takes effect at commit';

CREATE FUNCTION recs.model_id(name text)
RETURNS bigint
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    SELECT m.model_id INTO id FROM recs.model m
     WHERE m.name = model_id.name
     ORDER BY m.version DESC LIMIT 1;
    IF id IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model "%s" does not exist', model_id.name),
            HINT = 'SELECT * FROM recs.models lists the trained models.';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION recs.model_id(text) IS
    'id of the latest version of the named model';

CREATE FUNCTION recs.drop_model(model_id bigint, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recs.model m WHERE m.model_id = drop_model.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model %s does not exist', drop_model.model_id);
    END IF;
    IF EXISTS (SELECT 1 FROM recs.blend_component b WHERE b.component_id = drop_model.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_in_use',
            MESSAGE = format('recs model %s is a component of blend model %s', drop_model.model_id,
                             (SELECT min(b.model_id) FROM recs.blend_component b
                               WHERE b.component_id = drop_model.model_id)),
            HINT = 'Drop the blend first.';
    END IF;
    IF EXISTS (SELECT 1 FROM recs.deployment d WHERE d.model_id = drop_model.model_id) THEN
        IF NOT force THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_in_use',
                MESSAGE = format('recs model %s is deployed', drop_model.model_id),
                HINT = 'Activate another model first, or pass force => true to undeploy it.';
        END IF;
        DELETE FROM recs.deployment d WHERE d.model_id = drop_model.model_id;
    END IF;
    DELETE FROM recs.model m WHERE m.model_id = drop_model.model_id;
END
$$;
COMMENT ON FUNCTION recs.drop_model(bigint, boolean) IS
    'delete a model version and all its parts; a deployed model needs force => true';

CREATE VIEW recs.models AS
SELECT m.model_id, m.name, m.version, m.kind, m.status, m.created_at,
       m.trained_through,
       (SELECT array_agg(d.slot ORDER BY d.slot) FROM recs.deployment d
         WHERE d.model_id = m.model_id) AS deployed_in,
       m.params, m.metrics
  FROM recs.model m;
COMMENT ON VIEW recs.models IS
    'trained models with the deployment slots they serve, their parameters and metrics';

-- 20_sample.sql -- generated sample data for demos, tests and benchmarks.

CREATE FUNCTION recs._generate_sample_data(target_schema name, learners integer,
    courses integer, seed bigint, days integer, end_at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'generate_sample_data'
LANGUAGE C VOLATILE;

CREATE FUNCTION recs.generate_sample(
    target_schema name,
    learners integer DEFAULT 2000,
    courses integer DEFAULT 300,
    seed bigint DEFAULT 42,
    days integer DEFAULT 730,
    end_at timestamptz DEFAULT '2026-01-01 00:00:00+00',
    replace boolean DEFAULT false)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'target_schema must not be NULL';
    END IF;
    FOREACH t IN ARRAY ARRAY['courses', 'learners', 'watches', 'impressions'] LOOP
        IF to_regclass(format('%I.%I', target_schema, t)) IS NOT NULL THEN
            IF replace THEN
                EXECUTE format('DROP TABLE %I.%I', target_schema, t);
            ELSE
                RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
                    MESSAGE = format('table %I.%I already exists', target_schema, t),
                    HINT = 'Pass replace => true to drop and regenerate the sample tables.';
            END IF;
        END IF;
    END LOOP;
    PERFORM recs._generate_sample_data(target_schema, learners, courses, seed, days, end_at);
    FOREACH t IN ARRAY ARRAY['courses', 'learners', 'watches', 'impressions'] LOOP
        table_name := format('%I.%I', target_schema, t);
        EXECUTE format('SELECT count(*) FROM %I.%I', target_schema, t) INTO row_count;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.generate_sample(name, integer, integer, bigint, integer, timestamptz, boolean) IS
    'create seeded sample tables courses, learners, watches, impressions in a schema';
-- 25_serving.sql -- serving: recommendations from the active or a given model.

CREATE FUNCTION recs.recommend(
    learner_id bigint,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude bigint[] DEFAULT NULL,
    candidates bigint[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent bigint[] DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]) IS
    'top k courses for a learner from the active (or the given) model, excluding courses already watched';

-- Everyone's recommendations in one query, for ETL jobs.  A plain lateral
-- join over the learners the model knows, so the planner may run it in
-- parallel workers (recommend() is PARALLEL SAFE and each worker keeps its
-- own model cache).
CREATE FUNCTION recs.recommend_all(
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true,
    learners bigint[] DEFAULT NULL)
RETURNS TABLE (learner_id bigint, rank integer, course_id bigint, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.learner_id, r.rank, r.course_id, r.score
      FROM (SELECT ml.learner_id
              FROM recs.model_learner ml
             WHERE ml.model_id = COALESCE(recommend_all.model,
                     (SELECT d.model_id FROM recs.deployment d WHERE d.slot = 'default'))
               AND (recommend_all.learners IS NULL OR ml.learner_id = ANY (recommend_all.learners))
            UNION
            SELECT u.id FROM unnest(recommend_all.learners) u(id) WHERE u.id IS NOT NULL) l,
           LATERAL recs.recommend(l.learner_id, recommend_all.k,
                                  exclude_watched => recommend_all.exclude_watched,
                                  model => recommend_all.model) r
$$;
COMMENT ON FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[]) IS
    'top k for every learner the model knows (or for the given learners), for batch jobs';
-- 30_popularity.sql -- the popularity-by-language model.

CREATE FUNCTION recs.train_popularity(
    watches regclass,
    learners regclass DEFAULT NULL,
    name text DEFAULT 'popularity',
    window_days float8 DEFAULT 90,
    min_watch_seconds float8 DEFAULT 60,
    through timestamptz DEFAULT NULL,
    activate boolean DEFAULT true,
    smoothing float8 DEFAULT 20,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    language_column text DEFAULT 'language')
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_popularity'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_popularity(regclass, regclass, text, float8, float8,
    timestamptz, boolean, float8, text, text, text, text, text) IS
    'train a popularity-by-language model from a watches relation; returns the model id';
-- 35_evaluate.sql -- offline evaluation of a model.

CREATE FUNCTION recs.evaluate(
    model bigint,
    test regclass,
    k integer DEFAULT 10,
    protocol text DEFAULT 'full',
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    negatives_column text DEFAULT 'negatives',
    label_column text DEFAULT 'clicked')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'evaluate_model'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.evaluate(bigint, regclass, integer, text, text, text, text, text) IS
    'quality of a model on a test relation (full: Recall, NDCG, MRR, coverage; sampled: HR, NDCG; response: AUC, log-loss), also stored in the model''s metrics';
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
AS 'MODULE_PATHNAME', 'score_pair'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.score(bigint, bigint, bigint) IS
    'a model''s score of one (learner, course) pair, the number recommend() ranks by: NCF dot product, GLMix probability, popularity share, blend logit';

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

CREATE FUNCTION recs.course_map(model bigint)
RETURNS TABLE (course_id bigint, x float8, y float8)
AS 'MODULE_PATHNAME', 'ncf_course_map'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.course_map(bigint) IS
    'a 2-D map of an NCF model''s course embeddings: their projection on the two leading principal components';

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
-- 45_embeddings.sql -- a model's embeddings as rows, for joining with your
-- own tables or indexing with pgvector (real[] casts to vector).

CREATE FUNCTION recs.course_embeddings(model bigint DEFAULT NULL)
RETURNS TABLE (course_id bigint, embedding real[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := model;
    k text;
BEGIN
    IF m IS NULL THEN
        SELECT d.model_id INTO m FROM recs.deployment d WHERE d.slot = 'default';
        IF m IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'no recs model is active in slot "default"';
        END IF;
    END IF;
    SELECT x.kind INTO k FROM recs.model x WHERE x.model_id = m;
    IF k IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('recs model %s does not exist', m);
    END IF;
    IF k = 'blend' THEN
        -- a blend's course embeddings are those of its first NCF component
        SELECT bc.component_id INTO m FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
         WHERE bc.model_id = m AND x.kind = 'ncf' ORDER BY bc.position LIMIT 1;
        k := CASE WHEN m IS NULL THEN 'blend' ELSE 'ncf' END;
    END IF;
    IF k <> 'ncf' THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('recs model %s is a %s model, which has no course embeddings', coalesce(m, model), k),
            HINT = 'Pass an NCF model, or a blend with an NCF component.';
    END IF;
    RETURN QUERY SELECT c.course_id, c.embedding FROM recs.ncf_course c WHERE c.model_id = m ORDER BY c.course_id;
END
$$;
COMMENT ON FUNCTION recs.course_embeddings(bigint) IS
    'every course''s embedding of an NCF model (a blend: its NCF component; NULL: the active model), for joins or a pgvector index (embedding::vector)';

-- learners' embeddings are personal data: read with the caller's rights
CREATE FUNCTION recs.learner_embeddings(model bigint)
RETURNS TABLE (learner_id bigint, embedding real[])
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.learner_id, l.embedding FROM recs.ncf_learner l WHERE l.model_id = learner_embeddings.model
     ORDER BY l.learner_id
$$;
COMMENT ON FUNCTION recs.learner_embeddings(bigint) IS
    'every learner''s embedding of an NCF model, with the caller''s rights (a training role)';
-- 50_glmix.sql -- GLMix response prediction: a global fixed effect plus
-- per-learner and per-course (or per-any-attribute) random effects,
-- logistic, trained by coordinate descent over two SQL aggregates.

-- ---------------------------------------------------------------------------
-- The aggregates (usable on their own: the row forms take feature indexes
-- 1..dim and values; the block forms are what train_glmix runs)
-- ---------------------------------------------------------------------------

CREATE TYPE recs.glmix_stats AS (
    rows     bigint,
    weight   float8,
    loss     float8,
    gradient float8[],
    hessian  float8[]
);
COMMENT ON TYPE recs.glmix_stats IS
    'sums over rows of the weighted logistic loss, its gradient and its Hessian (row-major dim x dim), without the L2 penalty';

CREATE FUNCTION recs._glmix_fixed_row_accum(internal, float8, float8, float8, integer[], float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_fixed_row_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_fixed_block_accum(internal, bytea, float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_fixed_block_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_fixed_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_fixed_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_fixed_serial(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_fixed_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_fixed_deserial(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_fixed_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_fixed_final(internal)
RETURNS recs.glmix_stats AS 'MODULE_PATHNAME', 'glmix_fixed_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_fixed_stats(label float8, weight float8, "offset" float8,
                                        features integer[], "values" float8[], coefficients float8[]) (
    SFUNC = recs._glmix_fixed_row_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_fixed_final,
    COMBINEFUNC = recs._glmix_fixed_combine,
    SERIALFUNC = recs._glmix_fixed_serial,
    DESERIALFUNC = recs._glmix_fixed_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_fixed_stats(float8, float8, float8, integer[], float8[], float8[]) IS
    'logistic-regression sufficient statistics at the given coefficients: features are 1-based indexes, values NULL = all 1, weight NULL = 1, offset NULL = 0';

CREATE FUNCTION recs._glmix_fixed_block_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_fixed_block_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_fixed_block_stats(block bytea, offsets float8[], coefficients float8[]) (
    SFUNC = recs._glmix_fixed_block_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_fixed_block_final,
    COMBINEFUNC = recs._glmix_fixed_combine,
    SERIALFUNC = recs._glmix_fixed_serial,
    DESERIALFUNC = recs._glmix_fixed_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_fixed_block_stats(bytea, float8[], float8[]) IS
    'glmix_fixed_stats over train_glmix''s blocks, as one float8[]: rows, weight, loss, gradient, packed upper Hessian';

CREATE FUNCTION recs._glmix_entity_row_accum(internal, float8, float8, float8, integer[], float8[], integer, float8)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_entity_row_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_entity_block_accum(internal, bytea, float8[], float8[], float8)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_entity_block_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_entity_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_entity_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_entity_serial(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_entity_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_entity_deserial(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_entity_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_entity_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_entity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_entity_fit(label float8, weight float8, "offset" float8,
                                       features integer[], "values" float8[], dim integer, l2 float8) (
    SFUNC = recs._glmix_entity_row_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_entity_final,
    COMBINEFUNC = recs._glmix_entity_combine,
    SERIALFUNC = recs._glmix_entity_serial,
    DESERIALFUNC = recs._glmix_entity_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_entity_fit(float8, float8, float8, integer[], float8[], integer, float8) IS
    'with GROUP BY entity: each entity''s L2-regularised weighted logistic regression with offsets (Newton), as float8[dim]';

CREATE AGGREGATE recs.glmix_entity_fit(block bytea, offsets float8[], start float8[], l2 float8) (
    SFUNC = recs._glmix_entity_block_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_entity_final,
    COMBINEFUNC = recs._glmix_entity_combine,
    SERIALFUNC = recs._glmix_entity_serial,
    DESERIALFUNC = recs._glmix_entity_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_entity_fit(bytea, float8[], float8[], float8) IS
    'block form of glmix_entity_fit over train_glmix''s work relation; start holds every entity''s warm-start coefficients';

-- Nobody but the extension's owner calls the support functions: the
-- aggregates run them with their owner's rights.  The block forms serve
-- train_glmix's own queries only; recs.grant_access(role, training => true)
-- lets a training role run them.  Every one of them still validates its
-- input completely, since a superuser may call them with anything.
REVOKE EXECUTE ON FUNCTION
    recs._glmix_fixed_row_accum(internal, float8, float8, float8, integer[], float8[], float8[]),
    recs._glmix_fixed_block_accum(internal, bytea, float8[], float8[]),
    recs._glmix_fixed_combine(internal, internal),
    recs._glmix_fixed_serial(internal),
    recs._glmix_fixed_deserial(bytea, internal),
    recs._glmix_fixed_final(internal),
    recs._glmix_fixed_block_final(internal),
    recs._glmix_entity_row_accum(internal, float8, float8, float8, integer[], float8[], integer, float8),
    recs._glmix_entity_block_accum(internal, bytea, float8[], float8[], float8),
    recs._glmix_entity_combine(internal, internal),
    recs._glmix_entity_serial(internal),
    recs._glmix_entity_deserial(bytea, internal),
    recs._glmix_entity_final(internal),
    recs.glmix_fixed_block_stats(bytea, float8[], float8[]),
    recs.glmix_entity_fit(bytea, float8[], float8[], float8)
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Model storage
-- ---------------------------------------------------------------------------

CREATE TABLE recs.glmix_coordinate (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    position  integer NOT NULL CHECK (position >= 0),
    name      text NOT NULL,
    keyed_by  text CHECK (keyed_by IN ('learner', 'course')),
    by_id     boolean NOT NULL,
    l2        float8 NOT NULL CHECK (l2 > 0),
    intercept boolean NOT NULL,
    features  text[] NOT NULL,
    crosses   text[],
    entities  integer NOT NULL,
    PRIMARY KEY (model_id, position),
    UNIQUE (model_id, name)
);
COMMENT ON TABLE recs.glmix_coordinate IS
    'per glmix model: the fixed effect (position 0, name ''fixed'') and each random effect, with the names of its coefficient vector''s features';

CREATE TABLE recs.glmix_column (
    model_id      bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    side          text NOT NULL CHECK (side IN ('learner', 'course')),
    position      integer NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('onehot', 'multihot', 'numeric')),
    first_feature integer NOT NULL,
    n_features    integer NOT NULL,
    mean          float8,
    sd            float8,
    PRIMARY KEY (model_id, side, position)
);
COMMENT ON TABLE recs.glmix_column IS
    'per glmix model: the learner and course feature columns, their encoding and (numeric) standardisation';

CREATE TABLE recs.glmix_entity (
    model_id bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    side     text NOT NULL CHECK (side IN ('learner', 'course')),
    id       bigint NOT NULL,
    features integer[] NOT NULL,
    "values" float8[] NOT NULL,
    keys     text[],
    PRIMARY KEY (model_id, side, id)
);
COMMENT ON TABLE recs.glmix_entity IS
    'per glmix model: each learner''s and course''s feature vector (0-based indexes into its side''s features) and its attribute keys';

CREATE TABLE recs.glmix_coef (
    model_id   bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    coordinate text NOT NULL,
    entity     text NOT NULL,
    rows       integer NOT NULL,
    coef       float8[] NOT NULL,
    PRIMARY KEY (model_id, coordinate, entity)
);
COMMENT ON TABLE recs.glmix_coef IS
    'per glmix model: coefficient vectors of the fixed effect (entity '''') and of every entity with a model; rows = training rows it was fitted on';

CREATE VIEW recs.glmix_coefficients AS
SELECT c.model_id, c.coordinate, NULLIF(c.entity, '') AS entity, f.feature, f.coef
  FROM recs.glmix_coef c
  JOIN recs.glmix_coordinate k ON k.model_id = c.model_id AND k.name = c.coordinate
 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.features), pg_catalog.unnest(c.coef)) AS f(feature, coef);
COMMENT ON VIEW recs.glmix_coefficients IS
    'every glmix coefficient with its feature name: coordinate ''fixed'' (entity NULL) or a random-effect column and its entity key';

SELECT pg_catalog.pg_extension_config_dump('recs.glmix_coordinate', '');
SELECT pg_catalog.pg_extension_config_dump('recs.glmix_column', '');
SELECT pg_catalog.pg_extension_config_dump('recs.glmix_entity', '');
SELECT pg_catalog.pg_extension_config_dump('recs.glmix_coef', '');

-- ---------------------------------------------------------------------------
-- Training and serving
-- ---------------------------------------------------------------------------

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
    weight_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent; returns the model id';

CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total';
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
    rerank_top integer DEFAULT 0)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_blend'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint, integer) IS
    'train a personalised blend (a GLMix over component model scores) on impressions after the components'' training data';
-- 65_explain.sql -- "why am I seeing this course?" for any model kind.

CREATE FUNCTION recs.explain_recommendation(learner_id bigint, course_id bigint, model bigint DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := model;
    m_kind text;
    g float8[];
    lc float8[];
    sc float8[];
    seg text;
    w float8[];
    total float8 := 0;
    c record;
    s float8;
    z float8;
BEGIN
    IF learner_id IS NULL OR course_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be NULL', CASE WHEN learner_id IS NULL THEN 'learner_id' ELSE 'course_id' END);
    END IF;
    IF m IS NULL THEN
        SELECT d.model_id INTO m FROM recs.deployment d WHERE d.slot = 'default';
        IF m IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'no recs model is active in slot "default"';
        END IF;
    END IF;
    SELECT x.kind INTO m_kind FROM recs.model x WHERE x.model_id = m;
    IF m_kind IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('recs model %s does not exist', m);
    END IF;
    -- a course the model does not score is an error, as in recs.score()
    PERFORM recs.score(m, learner_id, course_id);

    IF m_kind <> 'blend' THEN
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => m) r;
        part := 'model'; part_model := m; kind := m_kind; score := s; weight := 1; contribution := s;
        detail := CASE WHEN m_kind = 'glmix' THEN
                    ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                            FROM recs.explain(m, learner_id, course_id) e WHERE e.coordinate <> 'total')
                  END;
        RETURN NEXT;
        RETURN;
    END IF;

    -- a blend: weights = global + the learner's own + their other keys' (segment ...)
    SELECT b.coefs INTO g FROM recs.blend_coef b WHERE b.model_id = m AND b.entity IS NULL;
    SELECT b.coefs INTO lc FROM recs.blend_coef b
     WHERE b.model_id = m AND b.coordinate = (SELECT x.params->>'learner_column' FROM recs.model x WHERE x.model_id = m)
       AND b.entity = learner_id::text;
    SELECT coalesce(array_agg(b.coefs[i] ORDER BY i), NULL) INTO sc
      FROM (SELECT b2.coefs FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos),
                   recs.blend_coef b2
             WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
               AND b2.model_id = m AND b2.entity = k.key
               AND b2.coordinate = (SELECT x.params->'random_effects'->>(k.pos::int - 1) FROM recs.model x WHERE x.model_id = m)) b,
           generate_subscripts(b.coefs, 1) i
     GROUP BY ();
    SELECT string_agg(format('%s=%s', e, b.entity), ', ') INTO seg
      FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos), recs.blend_coef b,
           LATERAL (SELECT x.params->'random_effects'->>(k.pos::int - 1) AS e FROM recs.model x WHERE x.model_id = m) r
     WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
       AND b.model_id = m AND b.entity = k.key AND b.coordinate = r.e;

    part := 'intercept'; part_model := m; kind := 'blend'; score := NULL;
    weight := g[1] + coalesce(lc[1], 0) + coalesce(sc[1], 0);
    contribution := weight; total := total + contribution;
    detail := ARRAY[format('global %s', round(g[1]::numeric, 4)),
                    format('learner %s', coalesce(round(lc[1]::numeric, 4)::text, 'none')),
                    format('%s %s', coalesce(seg, 'other keys'), coalesce(round(sc[1]::numeric, 4)::text, 'none'))];
    RETURN NEXT;

    FOR c IN SELECT bc.position, bc.component_id, bc.transform, bc.mean, bc.sd, x.kind AS ckind
               FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
              WHERE bc.model_id = m ORDER BY bc.position LOOP
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => c.component_id) r;
        z := CASE WHEN s IS NULL THEN 0
                  WHEN c.transform = 'logit' THEN (ln(greatest(least(s, 1 - 1e-12), 1e-12) / (1 - greatest(least(s, 1 - 1e-12), 1e-12))) - c.mean) / c.sd
                  ELSE (s - c.mean) / c.sd END;
        part := 'component ' || c.position; part_model := c.component_id; kind := c.ckind; score := s;
        weight := g[c.position + 1] + coalesce(lc[c.position + 1], 0) + coalesce(sc[c.position + 1], 0);
        contribution := weight * z; total := total + contribution;
        detail := ARRAY[format('standardised %s', round(z::numeric, 4)),
                        format('weight: global %s, learner %s, %s %s', round(g[c.position + 1]::numeric, 4),
                               coalesce(round(lc[c.position + 1]::numeric, 4)::text, 'none'),
                               coalesce(seg, 'other keys'), coalesce(round(sc[c.position + 1]::numeric, 4)::text, 'none'))]
                  || CASE WHEN c.ckind = 'glmix' THEN
                       ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                               FROM recs.explain(c.component_id, learner_id, course_id) e WHERE e.coordinate <> 'total')
                     ELSE '{}'::text[] END;
        RETURN NEXT;
    END LOOP;

    part := 'total'; part_model := m; kind := 'blend'; score := total; weight := NULL; contribution := total;
    detail := NULL;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION recs.explain_recommendation(bigint, bigint, bigint) IS
    'why a course is recommended: for a blend, each component''s score, weight (global + learner + segment) and contribution, with the GLMix features behind it; the total is the served score';

CREATE FUNCTION recs.explain(learner_id bigint, course_id bigint)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id) $$;
COMMENT ON FUNCTION recs.explain(bigint, bigint) IS
    'why the active model recommends a course to a learner (recs.explain_recommendation for the active model)';
-- 70_pipeline.sql -- the nightly pipeline in one call.

CREATE FUNCTION recs.train_all(
    watches regclass,
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[] DEFAULT '{language,industry,segment}',
    course_features text[] DEFAULT '{language,topic,difficulty}',
    crosses text[] DEFAULT '{industry:topic,language:language,segment:difficulty}',
    name text DEFAULT 'recs',
    blend_days integer DEFAULT 28,
    through timestamptz DEFAULT NULL,
    blend_effects text[] DEFAULT '{learner_id}',
    epochs integer DEFAULT 20,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    rerank_top integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_end timestamptz;
    t_cut timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    pop bigint;
    ncf bigint;
    glmix bigint;
    blend bigint;
    arg text;
    rel regclass;
    col text;
    typ regtype;
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions', 'learners', 'courses'] LOOP
        IF (arg = 'watches' AND watches IS NULL) OR (arg = 'impressions' AND impressions IS NULL)
           OR (arg = 'learners' AND learners IS NULL) OR (arg = 'courses' AND courses IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', arg);
        END IF;
    END LOOP;
    -- an option passed as NULL takes its default, as in the trainers (keep
    -- these in step with the signature)
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a click blend of the three models.';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'model name must not be empty',
            HINT = 'train_all names its models <name>_popularity, <name>_ncf, <name>_glmix and <name>_blend.';
    END IF;
    IF blend_days < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at least 1, not %s', blend_days);
    END IF;
    IF blend_days > 36500 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at most 36500 (a century), not %s', blend_days);
    END IF;
    IF NOT isfinite(through) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'through must be a finite timestamp';
    END IF;
    -- the pipeline filters on the conventional time columns itself
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions'] LOOP
        rel := CASE arg WHEN 'watches' THEN watches ELSE impressions END;
        col := CASE arg WHEN 'watches' THEN 'watched_at' ELSE 'shown_at' END;
        SELECT a.atttypid INTO typ FROM pg_attribute a
         WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF typ IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_column',
                MESSAGE = format('column "%s" does not exist in relation %s', col, rel),
                HINT = format('train_all reads the %s by their conventional time column %s; rename yours in a view.', arg, col);
        ELSIF typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
            RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
                MESSAGE = format('column "%s" of relation %s has type %s', col, rel, typ),
                DETAIL = format('train_all needs %s to be a timestamp with time zone, timestamp or date.', col),
                HINT = 'Cast it in a view and pass the view instead.';
        END IF;
    END LOOP;
    EXECUTE format('SELECT max(watched_at) FROM %s WHERE isfinite(watched_at)', watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = 'No row has a finite watched_at.';
    END IF;
    t_cut := t_end - make_interval(days => blend_days);

    -- the components learn from everything before the cut, the blend from
    -- the impressions after it: no component sees the blend's labels
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM %s WHERE watched_at < %L',
                   watches, t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_impressions AS SELECT * FROM %s WHERE shown_at < %L',
                   impressions, t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM %s WHERE shown_at <= %L',
                   impressions, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM %s WHERE watched_at <= %L',
                   watches, t_end);
    RAISE NOTICE 'train_all: components on data before %, blend on % from then to %', t_cut,
        CASE WHEN rerank_top IS NULL THEN 'impressions' ELSE 'watches' END, t_end;

    BEGIN
        t1 := clock_timestamp();
        pop := recs.train_popularity('pg_temp.recs_pipeline_watches', learners, name => name || '_popularity',
                                     activate => false);
        RAISE NOTICE 'train_all 1/4: popularity model % in % s', pop, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        ncf := recs.train_ncf('pg_temp.recs_pipeline_watches', name => name || '_ncf', courses => courses,
                              epochs => epochs, threads => threads, activate => false);
        RAISE NOTICE 'train_all 2/4: neural CF model % in % s', ncf, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        glmix := recs.train_glmix('pg_temp.recs_pipeline_impressions', learners, courses, learner_features,
                                  course_features, name => name || '_glmix', crosses => crosses,
                                  threads => threads, activate => false);
        RAISE NOTICE 'train_all 3/4: GLMix model % in % s', glmix, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        IF rerank_top IS NULL THEN
            -- a click blend of the three on the impressions
            blend := recs.train_blend(ARRAY[ncf, glmix, pop], 'pg_temp.recs_pipeline_blend', learners,
                                      name => name || '_blend', random_effects => blend_effects, since => t_cut,
                                      activate => false);
        ELSE
            -- a ranking blend re-ranking NCF's best courses, on the watches
            blend := recs.train_blend(ARRAY[ncf, glmix], 'pg_temp.recs_pipeline_blend_watches', learners,
                                      name => name || '_blend', random_effects => blend_effects, since => t_cut,
                                      time_column => 'watched_at', negatives => 20, rerank_top => rerank_top,
                                      l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                      activate => false);
        END IF;
        RAISE NOTICE 'train_all 4/4: blend model % in % s', blend, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions);
        det := recs._pipeline_names(det, watches, impressions);
        hnt := recs._pipeline_names(hnt, watches, impressions);
        IF det = '' AND hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF det = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
        ELSIF hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END IF;
    END;
    -- the models' provenance: the caller's relations, not the dropped views
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, blend);
    IF activate THEN
        PERFORM recs.activate(blend);
    END IF;
    DROP VIEW recs_pipeline_blend, recs_pipeline_blend_watches, recs_pipeline_impressions, recs_pipeline_watches;
    RAISE NOTICE 'train_all: done in % s%', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1),
        CASE WHEN activate THEN format(', blend %s active', blend) ELSE '' END;
    RETURN blend;
END
$$;
COMMENT ON FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer) IS
    'the nightly pipeline: popularity, neural CF and GLMix before the last blend_days, the blend after (on clicks, or re-ranking NCF''s best courses with rerank_top), then activation';

-- private functions ---------------------------------------------------------

CREATE FUNCTION recs._pipeline_names(t text, watches regclass, impressions regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
             'pg_temp(_[0-9]+)?\.recs_pipeline_blend_watches', watches::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_watches', watches::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_impressions', impressions::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_blend', impressions::text, 'g')
$$;
COMMENT ON FUNCTION recs._pipeline_names(text, regclass, regclass) IS
    'private, for train_all: a text with the pipeline''s temporary views replaced by the caller''s relations';
-- 80_access.sql -- who may do what: serving that sees no one's history,
-- training with the caller's own rights.
--
-- Serving functions run as the extension's owner (SECURITY DEFINER, with a
-- fixed search_path; none builds SQL from its arguments), so an application
-- role needs EXECUTE on them and nothing else: no SELECT on any model table,
-- which hold every learner's watched courses, embeddings and coefficients.
-- EXECUTE on them is therefore not PUBLIC; recs.grant_access gives it.
-- Everything that reads the caller's relations -- training, evaluate,
-- course_map_svg -- runs as the caller (SECURITY INVOKER), so GRANTs and
-- row-level security on those relations apply, and it needs the model
-- tables' privileges that grant_access(role, training => true) gives.

ALTER FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[])
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[]) SECURITY DEFINER;
ALTER FUNCTION recs.score(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.similar_courses(bigint, integer, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.embed_learner(bigint, bigint[]) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.course_map(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain_recommendation(bigint, bigint, bigint) SECURITY DEFINER;
ALTER FUNCTION recs.explain(bigint, bigint) SECURITY DEFINER;
ALTER FUNCTION recs.model_id(text) SECURITY DEFINER;
ALTER FUNCTION recs.course_embeddings(bigint) SECURITY DEFINER;

REVOKE EXECUTE ON FUNCTION
    recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]),
    recs.recommend_all(integer, bigint, boolean, bigint[]),
    recs.score(bigint, bigint, bigint),
    recs.similar_courses(bigint, integer, bigint),
    recs.embed_learner(bigint, bigint[]),
    recs.course_map(bigint),
    recs.glmix_score(bigint, bigint, bigint),
    recs.glmix_logit(bigint, bigint, bigint),
    recs.explain(bigint, bigint, bigint),
    recs.explain_recommendation(bigint, bigint, bigint),
    recs.explain(bigint, bigint),
    recs.model_id(text),
    recs.course_embeddings(bigint)
FROM PUBLIC;

-- the serving functions, for grant_access and revoke_access
CREATE FUNCTION recs._serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]), '
        || 'recs.recommend_all(integer, bigint, boolean, bigint[]), recs.score(bigint, bigint, bigint), '
        || 'recs.similar_courses(bigint, integer, bigint), recs.embed_learner(bigint, bigint[]), '
        || 'recs.course_map(bigint), recs.glmix_score(bigint, bigint, bigint), '
        || 'recs.glmix_logit(bigint, bigint, bigint), recs.explain(bigint, bigint, bigint), '
        || 'recs.explain_recommendation(bigint, bigint, bigint), recs.explain(bigint, bigint), '
        || 'recs.model_id(text), recs.course_embeddings(bigint)'
$$;
COMMENT ON FUNCTION recs._serving_functions() IS
    'the serving functions (SECURITY DEFINER, not PUBLIC) that grant_access gives a role, as a list for GRANT';

CREATE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA recs TO %s', grantee);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._serving_functions(), grantee);
    EXECUTE format('GRANT SELECT ON recs.models TO %s', grantee);
    IF training THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                       'recs.glmix_entity_fit(bytea, float8[], float8[], float8) TO %s', grantee);
    END IF;
END
$$;
COMMENT ON FUNCTION recs.grant_access(regrole, boolean) IS
    'let a role serve (EXECUTE on the serving functions, no access to the model tables; training => true: also train, evaluate, activate and drop models)';

CREATE FUNCTION recs.revoke_access(grantee regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', recs._serving_functions(), grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                   'recs.glmix_entity_fit(bytea, float8[], float8[], float8) FROM %s', grantee);
    EXECUTE format('REVOKE USAGE ON SCHEMA recs FROM %s', grantee);
END
$$;
COMMENT ON FUNCTION recs.revoke_access(regrole) IS
    'take back what recs.grant_access gave a role';
-- 85_privacy.sql -- the right to be forgotten: a learner's rows out of every
-- model.

-- What a model keeps of one learner is in rows keyed by their id: their
-- history (model_learner), their NCF embedding, their GLMix features and
-- per-learner coefficients, their blend keys and per-learner blend weights.
-- forget_learner deletes all of them, keeps each model consistent (a GLMix
-- coordinate's entity count), and gives every model it touched a new
-- cache_token, so every backend reloads it at its next call and no cache
-- still knows the learner.  What it cannot take back is the learner's share
-- in parameters fitted on everyone's data -- tower weights, co-watch
-- similarities, popularity counts, fixed and per-course effects: those go at
-- the next training, which reads the source relations as they are then.
-- It runs as the caller, who needs DELETE on the model tables (a training
-- role, see grant_access).
CREATE FUNCTION recs.forget_learner(learner_id bigint)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_text text := learner_id::text;
    touched bigint[] := '{}';
    ids bigint[];
BEGIN
    table_name := 'recs.model_learner';
    WITH d AS (DELETE FROM recs.model_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.ncf_learner';
    WITH d AS (DELETE FROM recs.ncf_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.glmix_entity';
    WITH d AS (DELETE FROM recs.glmix_entity t WHERE t.side = 'learner' AND t.id = forget_learner.learner_id
               RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner GLMix coefficients: coordinates keyed by the learner id
    table_name := 'recs.glmix_coef';
    WITH d AS (DELETE FROM recs.glmix_coef c USING recs.glmix_coordinate k
                WHERE k.model_id = c.model_id AND k.name = c.coordinate AND k.keyed_by = 'learner'
                  AND k.by_id AND c.entity = id_text
               RETURNING c.model_id, c.coordinate),
         u AS (UPDATE recs.glmix_coordinate k SET entities = k.entities - n.n
                 FROM (SELECT d.model_id, d.coordinate, count(*) AS n FROM d GROUP BY 1, 2) n
                WHERE k.model_id = n.model_id AND k.name = n.coordinate RETURNING k.model_id)
    SELECT (SELECT count(*) FROM d), (SELECT array_agg(DISTINCT u.model_id) FROM u) INTO rows_removed, ids;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.blend_learner';
    WITH d AS (DELETE FROM recs.blend_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner blend weights: the coordinate named by the blend's learner column
    table_name := 'recs.blend_coef';
    WITH d AS (DELETE FROM recs.blend_coef c USING recs.model m
                WHERE m.model_id = c.model_id AND c.coordinate = m.params->>'learner_column'
                  AND c.entity = id_text
               RETURNING c.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- every backend reloads the models it touched at their next call
    UPDATE recs.model m SET cache_token = (random() * 9.2e18)::bigint
     WHERE m.model_id = ANY (touched);
END
$$;
COMMENT ON FUNCTION recs.forget_learner(bigint) IS
    'delete a learner''s rows from every model (histories, embeddings, features, per-learner coefficients and blend weights) and make every backend reload those models; reports the rows removed per table';
