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

-- the matrix-free solver's statistics (glmix_tron.c): O(dim) state, no Hessian
CREATE FUNCTION recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_block_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_serial(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_grad_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_deserial(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_grad_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_fixed_block_grad(block bytea, offsets float8[], coefficients float8[],
                                             direction float8[]) (
    SFUNC = recs._glmix_grad_block_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_grad_final,
    COMBINEFUNC = recs._glmix_grad_combine,
    SERIALFUNC = recs._glmix_grad_serial,
    DESERIALFUNC = recs._glmix_grad_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]) IS
    'the fixed effect''s statistics for the matrix-free solver over train_glmix''s blocks, as one float8[]: rows, weight, loss, gradient, then (direction not NULL) the Hessian times direction';

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
    recs.glmix_entity_fit(bytea, float8[], float8[], float8),
    recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[]),
    recs._glmix_grad_combine(internal, internal),
    recs._glmix_grad_serial(internal),
    recs._glmix_grad_deserial(bytea, internal),
    recs._glmix_grad_final(internal),
    recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[])
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- GLMix on Citus with a flat coordinator (glmix_flat.c): each learner's
-- blocks built in the shards' tasks, and aggregates with a bytea state that
-- Citus pushes down as partial aggregates.  Private to train_glmix: not
-- PUBLIC; grant_access(role, training => true) gives them.
-- ---------------------------------------------------------------------------
CREATE FUNCTION recs._glmix_flat_blocks(enc bytea, learner_id bigint, learner_features integer[],
                                        learner_values float8[], course_ids bigint[],
                                        labels float8[], labels2 float8[], times float8[],
                                        watch_seconds float8[], weights float8[])
RETURNS TABLE (block_no integer, fblock bytea, rblock bytea, "rows" integer, positives integer,
               nonzeros bigint, null_id bigint, null_label bigint, bad_time bigint,
               after_through bigint, t_max float8, watched bigint[], courses bigint[])
AS 'MODULE_PATHNAME', 'glmix_flat_blocks'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[]) IS
    'train_glmix on Citus: one learner''s impressions (course ids, labels, the second label column''s, times, watch times, weights; arrays in one order) as pairs of fixed-effect and learner-effect blocks over the same rows, with the learner''s counts and positive courses on the first (and, for a course effect, each block''s rows'' course ids), built from the learner''s feature vector (NULL: not in the learners relation) and the training''s encoding';

CREATE FUNCTION recs._glmix_flat_scores(block bytea, coefficients float8[], plus float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_scores(bytea, float8[], float8[]) IS
    'train_glmix on Citus: each row''s score (row . coefficients) of a block plus the row''s value of plus (NULL: none; the course effect''s scores), as the offsets of its twin block; NULL for a NULL block or coefficients';

CREATE FUNCTION recs._glmix_flat_fixed_accum(bytea, bytea, bytea, float8[], float8[], float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_fixed_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_loss_accum(bytea, bytea, bytea, float8[], float8[], boolean, float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_loss_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_combine(bytea, bytea)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_fixed_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_fixed_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_loss_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_loss_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs._glmix_flat_fixed_stats(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_scores float8[]) (
    SFUNC = recs._glmix_flat_fixed_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_fixed_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_fixed_stats(bytea, bytea, float8[], float8[], float8[]) IS
    'train_glmix on Citus: glmix_fixed_block_stats over fixed blocks whose offsets are their twin learner-effect blocks'' scores at the learner''s coefficients plus the rows'' course scores (NULL: none); a bytea state, so Citus pushes it down as a partial aggregate';

CREATE AGGREGATE recs._glmix_flat_loss(fblock bytea, rblock bytea, learner_coefficients float8[],
                                      coefficients float8[], first boolean, course_scores float8[]) (
    SFUNC = recs._glmix_flat_loss_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_loss_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_loss(bytea, bytea, float8[], float8[], boolean, float8[]) IS
    'train_glmix on Citus: rows, weight, weighted log-loss of the blocks at the coefficients (offsets as glmix_flat_fixed_stats), and the sum of the squared learner coefficients of the rows marked first';

CREATE FUNCTION recs._glmix_flat_grad_accum(bytea, bytea, bytea, float8[], float8[], float8[], float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_grad_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_grad_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_grad_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_fixed_grad(fblock bytea, rblock bytea, learner_coefficients float8[],
                                            coefficients float8[], direction float8[], course_scores float8[]) (
    SFUNC = recs._glmix_flat_grad_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_grad_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_fixed_grad(bytea, bytea, float8[], float8[], float8[], float8[]) IS
    'train_glmix on Citus, TRON: glmix_fixed_block_grad (rows, weight, loss, gradient and, with a direction, the Hessian-vector product) over fixed blocks with the offsets of glmix_flat_fixed_stats; a bytea state of O(dimension), pushed down by Citus as a partial aggregate';

CREATE FUNCTION recs._glmix_flat_course_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_ids bigint[],
                                             learner_features integer[], learner_values float8[],
                                             dim integer, intercept boolean, key_course_ids bigint[],
                                             keys bigint[])
RETURNS TABLE (key bigint, block bytea, offsets float8[])
AS 'MODULE_PATHNAME', 'glmix_flat_course_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[]) IS
    'train_glmix on Citus: a block pair''s rows grouped by key (the course id of each row, course_ids; or with key_course_ids, ascending, and keys the key of each such course, a row of another course left out) as the course-side effect''s blocks over the learner''s design [1 | learner features], with each row''s offset x . coefficients + the learner effect''s score; inserted into a relation distributed by key (Citus repartitions them)';

CREATE FUNCTION recs._glmix_flat_course_scores(course_ids bigint[], learner_features integer[],
                                               learner_values float8[], model_keys bigint[],
                                               coefficients float8[], dim integer, intercept boolean,
                                               key_course_ids bigint[], keys bigint[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_course_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_course_scores(bigint[], integer[], float8[], bigint[], float8[], integer, boolean, bigint[], bigint[]) IS
    'train_glmix on Citus: each row''s course-side effect score [1 | learner features] . its key''s coefficients (model_keys ascending, coefficients one row of dim per key; the key of a course: its id, or with key_course_ids and keys as in _glmix_flat_course_rows; 0 without a key or a model)';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[]),
    recs._glmix_flat_scores(bytea, float8[], float8[]),
    recs._glmix_flat_fixed_accum(bytea, bytea, bytea, float8[], float8[], float8[]),
    recs._glmix_flat_loss_accum(bytea, bytea, bytea, float8[], float8[], boolean, float8[]),
    recs._glmix_flat_combine(bytea, bytea),
    recs._glmix_flat_fixed_final(bytea),
    recs._glmix_flat_loss_final(bytea),
    recs._glmix_flat_fixed_stats(bytea, bytea, float8[], float8[], float8[]),
    recs._glmix_flat_loss(bytea, bytea, float8[], float8[], boolean, float8[]),
    recs._glmix_flat_grad_accum(bytea, bytea, bytea, float8[], float8[], float8[], float8[]),
    recs._glmix_flat_grad_final(bytea),
    recs._glmix_flat_fixed_grad(bytea, bytea, float8[], float8[], float8[], float8[]),
    recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[]),
    recs._glmix_flat_course_scores(bigint[], integer[], float8[], bigint[], float8[], integer, boolean, bigint[], bigint[])
FROM PUBLIC;

CREATE FUNCTION recs._glmix_flat_entity_accum(bytea, bytea, float8[], integer, float8[], integer)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_entity_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_entity_combine(bytea, bytea)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_entity_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_entity_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_entity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_entity_stats(block bytea, offsets float8[], key integer,
                                              coefficients float8[], nkeys integer) (
    SFUNC = recs._glmix_flat_entity_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_entity_final,
    COMBINEFUNC = recs._glmix_flat_entity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_entity_stats(bytea, float8[], integer, float8[], integer) IS
    'train_glmix on Citus, an effect keyed by a learner attribute: per key (0 .. nkeys - 1; a NULL block or key adds nothing) the rows, weight, loss, gradient, packed Hessian and each column''s count of stored nonzeros of the blocks'' rows at the key''s coefficients (row key of nkeys x dimension), as nkeys, dimension, then the sums key by key; a bytea state, pushed down by Citus as a partial aggregate';

CREATE FUNCTION recs._glmix_flat_add(a float8[], b float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_add'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_add(float8[], float8[]) IS
    'train_glmix on Citus: a + b element by element (a NULL one is none): a learner''s coefficients and its segment''s, over the same design';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_entity_accum(bytea, bytea, float8[], integer, float8[], integer),
    recs._glmix_flat_entity_combine(bytea, bytea),
    recs._glmix_flat_entity_final(bytea),
    recs._glmix_flat_entity_stats(bytea, float8[], integer, float8[], integer),
    recs._glmix_flat_add(float8[], float8[])
FROM PUBLIC;

-- an effect keyed by a column of the impressions (a channel) on the flat path
-- (glmix_flat_channel.c, glmix_agg_flat_channel.c)
CREATE FUNCTION recs._glmix_flat_blocks(enc bytea, learner_id bigint, learner_features integer[],
                                        learner_values float8[], course_ids bigint[],
                                        labels float8[], labels2 float8[], times float8[],
                                        watch_seconds float8[], weights float8[], row_keys integer[])
RETURNS TABLE (block_no integer, fblock bytea, rblock bytea, "rows" integer, positives integer,
               nonzeros bigint, null_id bigint, null_label bigint, bad_time bigint,
               after_through bigint, t_max float8, watched bigint[], courses bigint[], keys integer[])
AS 'MODULE_PATHNAME', 'glmix_flat_blocks'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[]) IS
    'train_glmix on Citus: recs._glmix_flat_blocks with each impression''s key of an effect keyed by an impressions column (row_keys: its value''s index, NULL none), returned as each block''s rows'' keys (-1: none)';

CREATE FUNCTION recs._glmix_flat_course_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_ids bigint[],
                                             learner_features integer[], learner_values float8[],
                                             dim integer, intercept boolean, key_course_ids bigint[],
                                             keys bigint[], row_scores float8[])
RETURNS TABLE (key bigint, block bytea, offsets float8[])
AS 'MODULE_PATHNAME', 'glmix_flat_course_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[]) IS
    'train_glmix on Citus: _glmix_flat_course_rows with row_scores (one a row of the block; NULL: none) added to each row''s offset: a model''s other course-side effects'' scores and a channel''s';
REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[])
FROM PUBLIC;

-- max_rows on a flat training's course-side effect (glmix_flat_cap.c): the
-- capped keys' samples drawn on the workers once, the blocks reweighted each
-- visit.  Private to train_glmix, as the other flat functions.
CREATE FUNCTION recs._glmix_flat_cap_rows(fblock bytea, course_ids bigint[], capped_course_ids bigint[],
                                          capped_keys bigint[])
RETURNS TABLE (key bigint, rn integer, course bigint, y float8, w float8)
AS 'MODULE_PATHNAME', 'glmix_flat_cap_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_cap_rows(bytea, bigint[], bigint[], bigint[]) IS
    'train_glmix on Citus: the rows of a block whose course has a capped key (capped_course_ids ascending, their keys), as (key, row, course, label, weight)';
CREATE FUNCTION recs._glmix_flat_cap_sample(key text, learner_ids bigint[], course_ids bigint[], labels float8[],
                                            weights float8[], max_rows integer, seed bigint, serial integer)
RETURNS TABLE (pos integer, weight float8)
AS 'MODULE_PATHNAME', 'glmix_flat_cap_sample'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_cap_sample(text, bigint[], bigint[], float8[], float8[], integer, bigint, integer) IS
    'train_glmix on Citus: one key''s max_rows sample as one node draws it (the key''s stream from seed, serial and key; its rows ordered by learner, course, label and weight): the chosen positions (1-based) and their weights scaled by rows / max_rows; none at max_rows rows or fewer';
CREATE FUNCTION recs._glmix_flat_cap_weights(fblock bytea, course_ids bigint[], capped_course_ids bigint[],
                                             capped_keys bigint[], sampled_rows integer[], sampled_weights float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_cap_weights'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_cap_weights(bytea, bigint[], bigint[], bigint[], integer[], float8[]) IS
    'train_glmix on Citus: a block''s rows'' course-effect weights: a capped key''s row its sampled weight (sampled_rows 0-based) or 0, any other row its own';
CREATE FUNCTION recs._glmix_flat_reweight(block bytea, weights float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_reweight'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_reweight(bytea, float8[]) IS
    'train_glmix on Citus: a copy of a block with its rows'' weights replaced (finite, >= 0, one a row); the block for NULL weights';
REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_cap_rows(bytea, bigint[], bigint[], bigint[]),
    recs._glmix_flat_cap_sample(text, bigint[], bigint[], float8[], float8[], integer, bigint, integer),
    recs._glmix_flat_cap_weights(bytea, bigint[], bigint[], bigint[], integer[], float8[]),
    recs._glmix_flat_reweight(bytea, float8[])
FROM PUBLIC;

CREATE FUNCTION recs._glmix_flat_channel_accum(bytea, bytea, float8[], integer[], float8[], integer)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_channel_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_channel_stats(block bytea, offsets float8[], keys integer[],
                                               coefficients float8[], nkeys integer) (
    SFUNC = recs._glmix_flat_channel_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_entity_final,
    COMBINEFUNC = recs._glmix_flat_entity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer) IS
    'train_glmix on Citus, an effect keyed by an impressions column: recs._glmix_flat_entity_stats with a key per row (keys, one per block row, -1 or NULL none) rather than per block';

CREATE FUNCTION recs._glmix_flat_channel_scores(block bytea, keys integer[], coefficients float8[], nkeys integer)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_channel_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer) IS
    'train_glmix on Citus: each block row''s score z . coefficients of its key (row key of nkeys x dimension; 0 for a row without a key), the other coordinates'' offsets; NULL for a NULL block or keys';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[]),
    recs._glmix_flat_channel_accum(bytea, bytea, float8[], integer[], float8[], integer),
    recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer),
    recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer)
FROM PUBLIC;
CREATE FUNCTION recs._glmix_flat_valid_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                            coefficients float8[], plus float8[])
RETURNS TABLE (bucket integer, positive boolean, logloss float8, score float8)
AS 'MODULE_PATHNAME', 'glmix_flat_valid_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_valid_rows(bytea, bytea, float8[], float8[], float8[]) IS
    'train_glmix on Citus: each validation row of a block pair, its score (fixed row . coefficients + learner-effect row . learner_coefficients + plus), its label, its log-loss term and its bucket of the score histogram (the logit clamped to +-32 in 65536 buckets)';
REVOKE EXECUTE ON FUNCTION recs._glmix_flat_valid_rows(bytea, bytea, float8[], float8[], float8[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Model storage
-- ---------------------------------------------------------------------------

CREATE TABLE recs.glmix_coordinate (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    position  integer NOT NULL CHECK (position >= 0),
    name      text NOT NULL,
    keyed_by  text CHECK (keyed_by IN ('learner', 'course', 'impression')),
    by_id     boolean NOT NULL,
    l2        float8 NOT NULL CHECK (l2 > 0),
    intercept boolean NOT NULL,
    features  text[] NOT NULL,
    crosses   text[],
    entities  integer NOT NULL,
    PRIMARY KEY (model_id, position),
    UNIQUE (model_id, name),
    matches   text[],
    hash_bits integer CHECK (hash_bits > 0)
);
COMMENT ON TABLE recs.glmix_coordinate IS
    'per glmix model: the fixed effect (position 0, name ''fixed'') and each random effect (keyed by a learner, a course or an impressions column such as the channel), with the names of its coefficient vector''s features';

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
    PRIMARY KEY (model_id, side, position),
    value_names   text[]
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
    weight_column text DEFAULT NULL,
    time_column text DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    solver text DEFAULT 'auto',
    l2_auto boolean DEFAULT false,
    hash_bits integer DEFAULT NULL,
    learners_id_column text DEFAULT NULL,
    courses_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, text, timestamptz, text, boolean, integer, text, text) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent on the impressions up to through; returns the model id';

-- Not STRICT, for the optional context: a NULL model, learner or course
-- still gives NULL (no rows for explain).
CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint, text, jsonb) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect; context (e.g. {"channel": "feed"}) applies the effects keyed by impressions columns, absent = their average (zero)';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint, text, jsonb) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint, text, jsonb) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total; context as in glmix_score';
