-- bad_input_values.sql -- extreme and dirty values: NaN, +-Infinity and
-- negative watch seconds, +-infinity timestamps, NULL ids and labels,
-- duplicates, ids at the bigint limits, a course watched by everyone, a
-- learner with 100,000 watches, unknown ids, dropped models, and k = 0, -1,
-- 10^9.  Each is a SQLSTATE with its exact message, a counted skip, or a
-- checked right answer.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(79);
-- timing limits scale by recs_test.time_factor (make memcheck runs the server
-- under valgrind, 20-100x slower, and sets it); 1 otherwise
SELECT coalesce(nullif(current_setting('recs_test.time_factor', true), ''), '1')::int AS time_factor \gset

CREATE SCHEMA bv;

-- ---- dirty watches: every dropped row is counted under its reason ----
CREATE TABLE bv.w (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO bv.w
SELECT l, c, '2025-06-01'::timestamptz + (l * 13 + c) * interval '1 hour', 300
  FROM generate_series(1, 30) l, generate_series(1, 12) c WHERE (l + c) % 3 = 0;
INSERT INTO bv.w VALUES
  (NULL, 1, '2025-06-02', 120), (1, NULL, '2025-06-02', 120),                           -- null_id 2
  (2, 1, 'infinity', 120), (2, 1, '-infinity', 120), (2, 1, NULL, 120),                -- bad_time 3
  (3, 1, '2025-06-03', 'NaN'), (3, 1, '2025-06-03', 'Infinity'),
  (3, 1, '2025-06-03', '-Infinity'), (3, 1, '2025-06-03', -1), (3, 1, '2025-06-03', NULL),  -- bad_watch_seconds 5
  (4, 1, '2025-06-03', 59),                                                            -- short 1
  (3, 3, '2025-07-01', 300), (3, 3, '2025-07-02', 300);                                -- duplicate 2 (of (3, 3))
SELECT recs.train_popularity('bv.w', name => 'v_pop', smoothing => 0) AS pop \gset
SELECT is((SELECT metrics->'skipped' FROM recs.model WHERE model_id = :pop),
          '{"null_id": 2, "bad_time": 3, "bad_watch_seconds": 5, "short": 1, "duplicate": 2}'::jsonb,
          'train_popularity: NULL ids, +-infinity and NULL times, NaN/+-Infinity/negative/NULL seconds, short and repeated watches, each counted');
SELECT recs.train_ncf('bv.w', 'v_ncf', epochs => 1, layers => '{8}', dim => 4) AS ncf \gset
SELECT is((SELECT metrics->'skipped' FROM recs.model WHERE model_id = :ncf),
          (SELECT metrics->'skipped' FROM recs.model WHERE model_id = :pop),
          'train_ncf: the same rows skipped and counted');
SELECT is((SELECT count(*)::int FROM recs.ncf_course WHERE model_id = :ncf AND embedding::text ~* 'nan|inf'), 0,
          'train_ncf: no NaN or infinite embedding from the dirty rows');

-- the time options: +-infinity is an error, not a window at the end of time
SELECT throws_ok($$SELECT recs.train_popularity('bv.w', through => 'infinity')$$, '22023', 'through must be a finite timestamp',
                 'train_popularity: through => infinity');
SELECT throws_ok($$SELECT recs.train_popularity('bv.w', through => '-infinity')$$, '22023', 'through must be a finite timestamp',
                 'train_popularity: through => -infinity');
SELECT throws_ok($$SELECT recs.train_ncf('bv.w', through => 'infinity')$$, '22023', 'through must be a finite timestamp',
                 'train_ncf: through => infinity');
SELECT throws_ok($$SELECT recs.train_ncf('bv.w', labels_from => '-infinity')$$, '22023', 'labels_from must be a finite timestamp',
                 'train_ncf: labels_from => -infinity');
SELECT throws_ok($$SELECT recs.generate_sample('bv_s', 5, 12, end_at => 'infinity')$$, '22023',
                 'end_at must be a finite timestamp at least 730 days after the earliest one', 'generate_sample: end_at => infinity');
SELECT throws_ok($$SELECT recs.generate_sample('bv_s', 5, 12, end_at => '-infinity')$$, '22023',
                 'end_at must be a finite timestamp at least 730 days after the earliest one', 'generate_sample: end_at => -infinity');
-- and the number options: NaN and infinities are out of range
SELECT throws_ok($$SELECT recs.train_popularity('bv.w', window_days => 'NaN')$$, '22023', 'window_days must be a positive number',
                 'train_popularity: window_days => NaN');
SELECT throws_ok($$SELECT recs.train_popularity('bv.w', smoothing => 'Infinity')$$, '22023', 'smoothing must be zero or positive',
                 'train_popularity: smoothing => Infinity');
SELECT throws_ok($$SELECT recs.train_ncf('bv.w', learning_rate => 'NaN')$$, '22023',
                 'learning_rate must be a finite number above 0, not NaN', 'train_ncf: learning_rate => NaN');
SELECT throws_ok($$SELECT recs.train_ncf('bv.w', window_days => '-Infinity')$$, '22023',
                 'window_days must be a finite number above 0, not -Infinity', 'train_ncf: window_days => -Infinity');

-- ---- impressions: GLMix refuses bad weights, the blend skips and counts bad rows ----
CREATE TABLE bv.l AS SELECT DISTINCT learner_id, CASE WHEN learner_id % 2 = 0 THEN 'en' ELSE 'fr' END AS language
  FROM bv.w WHERE learner_id IS NOT NULL;
CREATE TABLE bv.c AS SELECT DISTINCT course_id, 't' || course_id % 3 AS topic FROM bv.w WHERE course_id IS NOT NULL;
CREATE TABLE bv.i AS
SELECT learner_id, course_id, watched_at + interval '60 days' AS shown_at, (learner_id + course_id) % 2 = 0 AS clicked,
       false AS bookmarked, watch_seconds
  FROM bv.w WHERE learner_id IS NOT NULL AND course_id IS NOT NULL AND isfinite(watched_at) AND watch_seconds BETWEEN 60 AND 1e9;
SELECT recs.train_glmix('bv.i', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_gl') AS gl \gset
CREATE TABLE bv.i_neg AS SELECT * FROM bv.i;
UPDATE bv.i_neg SET watch_seconds = '-Infinity' WHERE learner_id = 6 AND course_id = 6;   -- a click
SELECT throws_ok($$SELECT recs.train_glmix('bv.i_neg', 'bv.l', 'bv.c', '{language}', '{topic}', weighting => 'watch_time')$$,
                 '22023', 'watch time must be a finite number >= 0, not -Infinity', 'train_glmix: a -Infinity watch time as weight');
UPDATE bv.i_neg SET watch_seconds = 'NaN' WHERE learner_id = 6 AND course_id = 6;
SELECT throws_ok($$SELECT recs.train_glmix('bv.i_neg', 'bv.l', 'bv.c', '{language}', '{topic}', weighting => 'watch_time')$$,
                 '22023', 'watch time must be a finite number >= 0, not NaN', 'train_glmix: a NaN watch time as weight');
CREATE TABLE bv.i_null AS SELECT * FROM bv.i;
UPDATE bv.i_null SET clicked = NULL WHERE learner_id = 6 AND course_id = 3;
SELECT recs.train_glmix('bv.i_null', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_gl_null', activate => false) AS gl_null \gset
SELECT is((SELECT (metrics->'skipped'->>'null_label')::int FROM recs.model WHERE model_id = :gl_null), 1,
          'train_glmix: a NULL label is skipped and counted, as train_blend does');
SELECT is((SELECT (metrics->>'train_rows')::int + 1 FROM recs.model WHERE model_id = :gl_null),
          (SELECT count(*)::int FROM bv.i_null), 'and every other row is used');
-- a repeated impression is one more observation: the same fit as weight 2
CREATE TABLE bv.i_twice AS SELECT *, 2::float8 AS w FROM bv.i;
CREATE TABLE bv.i_doubled AS SELECT * FROM bv.i UNION ALL SELECT * FROM bv.i;
SELECT recs.train_glmix('bv.i_twice', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_gl_w2', weight_column => 'w') AS gl_w2 \gset
SELECT recs.train_glmix('bv.i_doubled', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_gl_dup') AS gl_dup \gset
SELECT ok((SELECT max(abs(a.c - b.c)) FROM
             (SELECT coordinate, entity, u.c, u.i FROM recs.glmix_coef, unnest(coef) WITH ORDINALITY u(c, i) WHERE model_id = :gl_w2) a
             JOIN (SELECT coordinate, entity, u.c, u.i FROM recs.glmix_coef, unnest(coef) WITH ORDINALITY u(c, i) WHERE model_id = :gl_dup) b
             USING (coordinate, entity, i)) < 1e-6,
          'train_glmix: duplicated impressions fit like weight 2 (to the solver tolerance)');
CREATE TABLE bv.i_dirty AS SELECT * FROM bv.i;
INSERT INTO bv.i_dirty VALUES
  (NULL, 1, '2025-09-01', true, false, 100), (1, NULL, '2025-09-01', true, false, 100),    -- null_id 2
  (1, 2, '2025-09-01', NULL, false, 100),                                                  -- null_label 1
  (1, 2, 'infinity', true, false, 100), (1, 2, NULL, false, false, 100),                   -- bad_time 2
  (1, 2, '-infinity', true, false, 100);                                                   -- before any since: not read
SELECT recs.train_blend(ARRAY[:ncf, :pop], 'bv.i_dirty', name => 'v_bl', since => '-infinity') AS bl \gset
SELECT is((SELECT metrics->'skipped' FROM recs.model WHERE model_id = :bl),
          '{"null_id": 2, "null_label": 1, "bad_time": 2}'::jsonb,
          'train_blend: NULL ids and labels, NULL and infinite times are skipped and counted');
SELECT is((SELECT (metrics->>'impressions_used')::int FROM recs.model WHERE model_id = :bl),
          (SELECT count(*)::int FROM bv.i), 'train_blend: every other impression is used');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bv.i', since => 'infinity')$$, :ncf, :pop), '22023',
                 'since must be a finite timestamp or -infinity', 'train_blend: since => infinity');
CREATE TABLE bv.i_frac AS SELECT learner_id, course_id, shown_at, clicked::int * 0.7 AS clicked FROM bv.i;
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bv.i_frac', since => '-infinity')$$, :ncf, :pop), '22023',
                 'labels must be 0 or 1, found 0.7', 'train_blend: a numeric label of 0.7 is not rounded to 1');

-- train_all: the same limits
SELECT throws_ok($$SELECT recs.train_all('bv.w', 'bv.i', 'bv.l', 'bv.c', through => 'infinity')$$, '22023',
                 'through must be a finite timestamp', 'train_all: through => infinity');
SELECT throws_ok($$SELECT recs.train_all('bv.w', 'bv.i', 'bv.l', 'bv.c', blend_days => 1000000000)$$, '22023',
                 'blend_days must be at most 36500 (a century), not 1000000000', 'train_all: blend_days => 10^9');
SELECT throws_ok($$SELECT recs.train_all('bv.w', 'bv.i', 'bv.l', 'bv.c', blend_days => -1)$$, '22023',
                 'blend_days must be at least 1, not -1', 'train_all: blend_days => -1');
SELECT throws_ok($$SELECT recs.train_all('bv.w', 'bv.i', 'bv.l', 'bv.c', name => '')$$, '22023',
                 'model name must not be empty', 'train_all: name => ''''');

-- ---- evaluate: NULL rows are counted, duplicates count once ----
CREATE TABLE bv.t (learner_id bigint, course_id bigint, clicked boolean);
INSERT INTO bv.t VALUES (5, 2, true), (7, 3, false), (8, 2, true);   -- courses they did not watch
CREATE TABLE bv.t_dirty AS SELECT * FROM bv.t;
INSERT INTO bv.t_dirty VALUES (5, 2, true), (NULL, 1, true), (5, NULL, true);
SELECT is(recs.evaluate(:pop, 'bv.t_dirty') - 'skipped_rows', recs.evaluate(:pop, 'bv.t'),
          'evaluate full: a repeated test row counts once, NULL ids are left out');
SELECT is((recs.evaluate(:pop, 'bv.t_dirty'))->'skipped_rows', '2'::jsonb, 'evaluate: and counted in skipped_rows');
INSERT INTO bv.t_dirty VALUES (5, 3, NULL);
SELECT is((recs.evaluate(:gl, 'bv.t_dirty', protocol => 'response'))->'skipped_rows', '3'::jsonb,
          'evaluate response: a NULL label is skipped and counted too');
CREATE TABLE bv.t_unknown AS SELECT 5::bigint AS learner_id, 424242::bigint AS course_id, true AS clicked;
SELECT is(recs.evaluate(:gl, 'bv.t_unknown', protocol => 'response'),
          '{"protocol": "response", "rows": 1, "scored": 0, "auc": null, "logloss": null}'::jsonb,
          'evaluate response: no pair the model scores gives null figures, not a JSON error');
CREATE TABLE bv.t_nulls AS SELECT NULL::bigint AS learner_id, 1::bigint AS course_id;
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'bv.t_nulls')$$, :pop), '02000', 'test relation bv.t_nulls has no rows',
                 'evaluate: a test relation of NULL rows only');

-- ---- ids at the bigint limits ----
CREATE TABLE bv.w_lim AS SELECT * FROM bv.w WHERE learner_id IS NOT NULL AND course_id IS NOT NULL;
INSERT INTO bv.w_lim VALUES
  (9223372036854775807, -9223372036854775808, '2025-08-01', 300), (9223372036854775807, 9223372036854775807, '2025-08-02', 300),
  (-9223372036854775808, 9223372036854775807, '2025-08-03', 300), (-9223372036854775808, 1, '2025-08-04', 300);
SELECT recs.train_popularity('bv.w_lim', name => 'v_lim_pop', smoothing => 0) AS lpop \gset
SELECT ok((SELECT array_agg(course_id) FROM recs.recommend(9223372036854775807, 100, exclude_watched => false, model => :lpop))
          @> '{9223372036854775807,-9223372036854775808}',
          'popularity: course ids at both bigint limits are ranked');
SELECT ok(NOT EXISTS (SELECT 1 FROM recs.recommend(-9223372036854775808, 100, model => :lpop)
                       WHERE course_id IN (9223372036854775807, 1)),
          'popularity: the learner at -2^63 is served without the courses they watched');
SELECT recs.train_ncf('bv.w_lim', 'v_lim_ncf', epochs => 1, layers => '{8}', dim => 4) AS lncf \gset
SELECT is((SELECT count(*)::int FROM recs.recommend(9223372036854775807, 100, exclude_watched => false, model => :lncf)
            WHERE course_id IN (9223372036854775807, -9223372036854775808)), 2,
          'NCF: both limit courses are scored');
SELECT is((SELECT count(*)::int FROM recs.similar_courses(-9223372036854775808, 3, model => :lncf)), 3,
          'NCF: similar courses of the course at -2^63');
SELECT ok(recs.score(:lncf, -9223372036854775808, 9223372036854775807) IS NOT NULL, 'NCF: score of the limit pair');
CREATE TABLE bv.i_lim AS SELECT learner_id, course_id, watched_at + interval '1 day' AS shown_at,
                                (learner_id % 2 = 0) AS clicked, false AS bookmarked FROM bv.w_lim;
SELECT recs.train_glmix('bv.i_lim', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_lim_gl') AS lgl \gset
SELECT ok((SELECT count(*) FROM recs.glmix_coef WHERE model_id = :lgl AND entity IN ('9223372036854775807', '-9223372036854775808')) = 4,
          'GLMix: learners and courses at the limits get their own models');
SELECT ok(recs.glmix_score(:lgl, 9223372036854775807, -9223372036854775808) BETWEEN 0 AND 1, 'GLMix: scores the limit pair');

-- ---- a course watched by everyone ----
CREATE TABLE bv.w_all AS SELECT * FROM bv.w_lim WHERE course_id <> 99
  UNION ALL SELECT DISTINCT learner_id, 99, '2025-09-01'::timestamptz, 300::float8 FROM bv.w_lim;
SELECT recs.train_popularity('bv.w_all', name => 'v_all_pop', smoothing => 0, window_days => 400) AS apop \gset
SELECT is((SELECT score FROM recs.course_popularity WHERE model_id = :apop AND language IS NULL AND course_id = 99), 1::float8,
          'popularity: a course watched by everyone has a share of 1');
SELECT is((SELECT count(*)::int FROM recs.model_learner ml, recs.recommend(ml.learner_id, 100, model => :apop) r
            WHERE ml.model_id = :apop AND r.course_id = 99), 0,
          'popularity: and is recommended to no one (everyone watched it)');
SELECT recs.train_ncf('bv.w_all', 'v_all_ncf', epochs => 1, layers => '{8}', dim => 4) AS ancf \gset
SELECT ok((SELECT bool_and(similarity > 0 AND similarity <= 1) FROM recs.ncf_cowatch WHERE model_id = :ancf AND course_id = 99)
          AND (SELECT count(*) FROM recs.ncf_cowatch WHERE model_id = :ancf AND course_id = 99) > 0,
          'NCF: its co-watch similarities are in (0, 1]');
SELECT is((SELECT count(*)::int FROM recs.similar_courses(99, 5, model => :ancf) WHERE similarity = 'NaN'), 0,
          'NCF: similar_courses of it has no NaN');

-- ---- a learner with 100,000 watches ----
CREATE TABLE bv.w_heavy AS SELECT * FROM bv.w_lim;
INSERT INTO bv.w_heavy SELECT 0, 1000 + g, '2025-01-01'::timestamptz + g * interval '1 second', 300 FROM generate_series(1, 100000) g;
SELECT clock_timestamp() AS t0 \gset
SELECT recs.train_popularity('bv.w_heavy', name => 'v_heavy_pop', window_days => 400) AS hpop \gset
SELECT is((SELECT (metrics->>'courses')::int FROM recs.model WHERE model_id = :hpop),
          (SELECT count(DISTINCT course_id)::int FROM bv.w_heavy), 'popularity: 100,000 distinct watches of one learner');
SELECT clock_timestamp() AS t1 \gset
SELECT is((SELECT count(*)::int FROM recs.recommend(5, 1000000000, model => :hpop)),
          (SELECT count(*)::int FROM recs.course_popularity WHERE model_id = :hpop AND language IS NULL)
            - (SELECT cardinality(watched) FROM recs.model_learner WHERE model_id = :hpop AND learner_id = 5),
          'recommend(k => 10^9): every unwatched course of a 100,000-course catalogue, no 10^9 slots');
SELECT ok(clock_timestamp() - :'t1'::timestamptz < interval '10 seconds' * :time_factor, 'recommend(k => 10^9) answers quickly');
-- NCF: 100,000 watches of 1,500 courses (repeats counted, with the 2 of bv.w); contexts cut to 1,000
CREATE TABLE bv.w_heavy2 AS SELECT * FROM bv.w_lim;
INSERT INTO bv.w_heavy2 SELECT 0, 1000 + g % 1500, '2025-01-01'::timestamptz + g * interval '1 second', 300
  FROM generate_series(1, 100000) g;
SELECT recs.train_ncf('bv.w_heavy2', 'v_heavy_ncf', epochs => 1, layers => '{8}', dim => 4) AS hncf \gset
SELECT is((SELECT (metrics->'skipped'->>'duplicate')::int FROM recs.model WHERE model_id = :hncf), 98500 + 2,
          'NCF: the heavy learner''s repeated watches are counted as duplicates');
SELECT is((SELECT (metrics->>'capped_contexts')::int FROM recs.model WHERE model_id = :hncf), 499,
          'NCF: their contexts longer than 1,000 watches are cut and counted');
SELECT is((SELECT count(*)::int FROM recs.recommend(0, 1000000000, model => :hncf)),
          (SELECT count(*)::int FROM recs.ncf_course WHERE model_id = :hncf) - 1500,
          'NCF: the heavy learner is served every course they did not watch');
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '60 seconds' * :time_factor, 'the heavy-learner trainings take seconds, not hours');

-- ---- unknown ids ----
SELECT results_eq(format('SELECT course_id FROM recs.recommend(424242, 5, model => %s)', :pop),
                  format('SELECT course_id FROM recs.recommend(-424242, 5, model => %s)', :pop),
                  'recommend: an unknown learner gets the everyone list (cold start)');
SELECT results_eq(format('SELECT course_id FROM recs.recommend(5, 5, candidates => ''{424242, NULL, 2, 4}'', exclude => ''{NULL, 525252}'', model => %s)', :pop),
                  format('SELECT course_id FROM recs.recommend(5, 5, candidates => ''{2, 4}'', model => %s)', :pop),
                  'recommend: unknown and NULL ids in candidates and exclude are ignored');
SELECT results_eq(format('SELECT course_id FROM recs.recommend(424242, 5, recent => ''{424242, NULL, 1}'', model => %s)', :ncf),
                  format('SELECT course_id FROM recs.recommend(424242, 5, recent => ''{1}'', model => %s)', :ncf),
                  'recommend: unknown and NULL ids in recent are ignored');
SELECT throws_ok(format('SELECT * FROM recs.similar_courses(424242, 5, model => %s)', :ncf), '42704',
                 format('course 424242 is not in NCF model %s', :ncf), 'similar_courses: an unknown course');
SELECT is(recs.score(:pop, 5, 424242), NULL, 'score: an unknown course is NULL (the model cannot place it)');
SELECT throws_ok(format('SELECT * FROM recs.explain_recommendation(5, 424242, %s)', :bl), '42704',
                 format('course 424242 is not scored by recs model %s', :bl), 'explain_recommendation: an unknown course');
SELECT is(recs.embed_learner(:ncf, '{424242, NULL, 1}'), recs.embed_learner(:ncf, '{1}'),
          'embed_learner: unknown and NULL course ids are ignored');
SELECT ok(recs.glmix_score(:gl, -424242, -525252) = recs.glmix_score(:gl, -626262, -727272)
          AND recs.glmix_score(:gl, -424242, -525252) BETWEEN 0 AND 1,
          'glmix_score: an unknown learner and course get the fixed effect alone');

-- ---- k = 0, -1, 10^9 ----
SELECT throws_ok('SELECT * FROM recs.recommend(5, 0)', '22023', 'k must be at least 1, not 0', 'recommend: k = 0');
SELECT throws_ok('SELECT * FROM recs.recommend(5, -1)', '22023', 'k must be at least 1, not -1', 'recommend: k = -1');
SELECT throws_ok(format('SELECT * FROM recs.similar_courses(1, 0, model => %s)', :ncf), '22023', 'k must be at least 1, not 0',
                 'similar_courses: k = 0');
SELECT throws_ok('SELECT * FROM recs.recommend_all(-1)', '22023', 'k must be at least 1, not -1', 'recommend_all: k = -1');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'bv.t', 0)$$, :pop), '22023', 'k must be at least 1, not 0', 'evaluate: k = 0');
SELECT is((SELECT count(*)::int FROM recs.similar_courses(1, 1000000000, model => :ncf)),
          (SELECT count(*)::int - 1 FROM recs.ncf_course WHERE model_id = :ncf), 'similar_courses: k = 10^9 gives every other course');
SELECT is((SELECT count(*)::int FROM recs.recommend_all(1000000000, model => :pop, learners => '{5}')),
          (SELECT count(*)::int FROM recs.recommend(5, 1000000000, model => :pop)), 'recommend_all: k = 10^9');
SELECT is((recs.evaluate(:pop, 'bv.t', 1000000000))->'recall', '1.000000'::jsonb, 'evaluate: k = 10^9 ranks the whole catalogue');

-- ---- dropped models ----
SELECT recs.train_popularity('bv.w', name => 'v_gone') AS gone \gset
SELECT is((SELECT count(*)::int FROM recs.recommend(5, 3, model => :gone)), 3, 'a model serves (and is cached)');
SELECT recs.drop_model(:gone, force => true);
SELECT throws_ok(format('SELECT * FROM recs.recommend(5, 3, model => %s)', :gone), '42704',
                 format('recs model %s does not exist', :gone), 'recommend: a dropped model, even after it was cached');
SELECT throws_ok('SELECT * FROM recs.recommend(5, 3)', '42704', 'no recs model is active in slot "default"',
                 'recommend: the active model was dropped (force)');
SELECT throws_ok(format('SELECT recs.activate(%s)', :gone), '42704', format('recs model %s does not exist', :gone),
                 'activate: a dropped model');
SELECT throws_ok(format('SELECT recs.drop_model(%s)', :gone), '42704', format('recs model %s does not exist', :gone),
                 'drop_model: twice');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'bv.t')$$, :gone), '42704', format('recs model %s does not exist', :gone),
                 'evaluate: a dropped model');
SELECT throws_ok(format('SELECT recs.score(%s, 5, 1)', :gone), '42704', format('recs model %s does not exist', :gone),
                 'score: a dropped model');
SELECT throws_ok(format('SELECT * FROM recs.explain_recommendation(5, 1, %s)', :gone), '42704',
                 format('recs model %s does not exist', :gone), 'explain_recommendation: a dropped model');
SELECT throws_ok(format('SELECT recs.train_blend(ARRAY[%s, %s], %L)', :ncf, :gone, 'bv.i'), '42704',
                 format('recs model %s does not exist', :gone), 'train_blend: a dropped component');
SELECT recs.train_ncf('bv.w', 'v_gone_ncf', epochs => 1, layers => '{8}', dim => 4, activate => false) AS gone_ncf \gset
SELECT recs.drop_model(:gone_ncf);
SELECT throws_ok(format('SELECT * FROM recs.similar_courses(1, 3, model => %s)', :gone_ncf), '42704',
                 format('recs model %s does not exist', :gone_ncf), 'similar_courses: a dropped model');
SELECT throws_ok(format('SELECT recs.embed_learner(%s, %L)', :gone_ncf, '{1}'), '42704',
                 format('recs model %s does not exist', :gone_ncf), 'embed_learner: a dropped model');
SELECT throws_ok(format('SELECT * FROM recs.course_map(%s)', :gone_ncf), '42704',
                 format('recs model %s does not exist', :gone_ncf), 'course_map: a dropped model');
SELECT recs.train_glmix('bv.i', 'bv.l', 'bv.c', '{language}', '{topic}', name => 'v_gone_gl', activate => false) AS gone_gl \gset
SELECT recs.drop_model(:gone_gl);
SELECT throws_ok(format('SELECT recs.glmix_score(%s, 5, 1)', :gone_gl), '42704',
                 format('recs model %s does not exist', :gone_gl), 'glmix_score: a dropped model');
SELECT throws_ok(format('SELECT * FROM recs.explain(%s, 5, 1)', :gone_gl), '42704',
                 format('recs model %s does not exist', :gone_gl), 'explain: a dropped GLMix model');

SELECT * FROM finish();
ROLLBACK;
