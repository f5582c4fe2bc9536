-- test/pgtap/glmix_channel.sql -- GLMix random effects keyed by a column of the
-- impressions (the channel), the serving context that applies them, and the
-- sample's watch time: weighting by it must rank long watches higher.
BEGIN;
SELECT plan(35);
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Hand-made: 20 learners x 4 courses, each pair shown once on the home page
-- and once in the feed.  The home page is clicked 3 times in 4, the feed once
-- in 4, whatever the learner and course: the channel effect must come out
-- positive for home, negative for feed, symmetric around zero.
-- ---------------------------------------------------------------------------
CREATE SCHEMA ch;
CREATE TABLE ch.learners (learner_id bigint PRIMARY KEY, segment text);
CREATE TABLE ch.courses (course_id bigint PRIMARY KEY, topic text);
INSERT INTO ch.learners SELECT l, CASE WHEN l % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 20) l;
INSERT INTO ch.courses VALUES (1, 'x'), (2, 'x'), (3, 'y'), (4, 'y');
CREATE TABLE ch.imp (learner_id bigint, course_id bigint, channel text, clicked boolean);
INSERT INTO ch.imp
SELECT l, c, ch, CASE ch WHEN 'home' THEN (l + c) % 4 <> 0 ELSE (l + c) % 4 = 0 END
  FROM generate_series(1, 20) l, generate_series(1, 4) c, unnest('{home,feed}'::text[]) ch;

SELECT lives_ok($$SELECT recs.train_glmix('ch.imp', 'ch.learners', 'ch.courses', '{segment}', '{topic}',
                    name => 'ch_model', random_effects => '{channel}', l2 => '{1,1}')$$,
                'a random effect keyed by a column of the impressions trains');
SELECT is((SELECT keyed_by FROM recs.glmix_coordinate WHERE model_id = recs.model_id('ch_model') AND name = 'channel'),
          'impression', 'it is stored as keyed by the impressions');
SELECT is((SELECT array_agg(entity || ':' || rows ORDER BY entity) FROM recs.glmix_coef
            WHERE model_id = recs.model_id('ch_model') AND coordinate = 'channel'),
          '{feed:80,home:80}', 'one model per channel, each on its 80 rows');
SELECT is((SELECT features FROM recs.glmix_coordinate WHERE model_id = recs.model_id('ch_model') AND name = 'channel'),
          '{(intercept),topic=x,topic=y}', 'a channel''s model is over the course features, like a learner''s');
SELECT ok((SELECT coef < -0.5 FROM recs.glmix_coefficients WHERE model_id = recs.model_id('ch_model')
            AND coordinate = 'channel' AND entity = 'feed' AND feature = '(intercept)'),
          'the feed''s effect is negative');
SELECT ok((SELECT coef > 0.5 FROM recs.glmix_coefficients WHERE model_id = recs.model_id('ch_model')
            AND coordinate = 'channel' AND entity = 'home' AND feature = '(intercept)'),
          'the home page''s effect is positive');
SELECT ok((SELECT abs(sum(coef)) < 1e-6 FROM recs.glmix_coefficients WHERE model_id = recs.model_id('ch_model')
            AND coordinate = 'channel' AND feature = '(intercept)'),
          'balanced channels: their effects are symmetric, so no context (0) is their average');
SELECT is((SELECT count(*)::int FROM recs.glmix_entity, unnest(keys) k WHERE model_id = recs.model_id('ch_model') AND k IS NOT NULL),
          0, 'no learner or course row holds a channel key');

-- the text-keyed twin: the same model, and its keyed serving overloads take
-- the same context
CREATE TABLE ch.tlearners AS SELECT 'L' || learner_id AS learner_id, segment FROM ch.learners;
CREATE TABLE ch.tcourses AS SELECT 'C' || course_id AS course_id, topic FROM ch.courses;
CREATE TABLE ch.timp AS SELECT 'L' || learner_id AS learner_id, 'C' || course_id AS course_id, channel, clicked FROM ch.imp;
SELECT recs.train_glmix('ch.timp', 'ch.tlearners', 'ch.tcourses', '{segment}', '{topic}',
                        name => 'ch_text', random_effects => '{channel}', l2 => '{1,1}', activate => false);
SELECT ok(abs(recs.glmix_logit(recs.model_id('ch_text'), 'L2', 'C1', context => '{"channel": "home"}')
              - recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "home"}')) < 1e-9
      AND abs(recs.glmix_logit(recs.model_id('ch_text'), 'L2', 'C1', context => '{"channel": "feed"}')
              - recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}')) < 1e-9,
          'text keys: glmix_logit applies the context like the bigint model');
SELECT is(recs.glmix_score(recs.model_id('ch_text'), 'L2', 'C1', context => '{"channel": "home"}'),
          1 / (1 + exp(-recs.glmix_logit(recs.model_id('ch_text'), 'L2', 'C1', context => '{"channel": "home"}'))),
          'text keys: glmix_score takes the context too');
SELECT is((SELECT array_agg(coordinate || ':' || entity ORDER BY coordinate)
             FROM recs.explain(recs.model_id('ch_text'), 'L2', 'C1', context => '{"channel": "feed"}')
            WHERE coordinate = 'channel'),
          '{channel:feed}', 'text keys: explain names the context''s channel');

-- serving: the context applies the channel's effect; absent, it is zero
SELECT ok(abs(recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "home"}')
              - recs.glmix_logit(recs.model_id('ch_model'), 2, 1)
              - (SELECT sum(coef) FILTER (WHERE feature IN ('(intercept)', 'topic=x'))
                   FROM recs.glmix_coefficients WHERE model_id = recs.model_id('ch_model')
                    AND coordinate = 'channel' AND entity = 'home')) < 1e-12,
          'glmix_logit with a context adds that channel''s intercept and course-feature terms');
SELECT ok(recs.glmix_score(recs.model_id('ch_model'), 2, 1, context => '{"channel": "home"}')
          > recs.glmix_score(recs.model_id('ch_model'), 2, 1)
      AND recs.glmix_score(recs.model_id('ch_model'), 2, 1) > recs.glmix_score(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}'),
          'glmix_score: home above no context above feed');
SELECT is(recs.glmix_score(recs.model_id('ch_model'), 2, 1, context => '{"channel": "home"}'),
          1 / (1 + exp(-recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "home"}'))),
          'glmix_score is the sigmoid of glmix_logit under the same context');
SELECT is(recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "tv"}'),
          recs.glmix_logit(recs.model_id('ch_model'), 2, 1), 'an unknown channel has effect 0');
SELECT is(recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": null, "device": "phone"}'),
          recs.glmix_logit(recs.model_id('ch_model'), 2, 1), 'a null channel is effect 0; keys no effect uses are ignored');
SELECT is(recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{}'),
          recs.glmix_logit(recs.model_id('ch_model'), 2, 1), 'an empty context is no context');
SELECT is(recs.score(recs.model_id('ch_model'), 2, 1), recs.glmix_score(recs.model_id('ch_model'), 2, 1),
          'recs.score (as recommend) serves the channel average');
SELECT is((SELECT array_agg(coordinate || ':' || coalesce(entity, '-') || ':' || has_model ORDER BY coordinate)
             FROM recs.explain(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}')),
          '{channel:feed:true,fixed:-:true,total:-:true}', 'explain names the context''s channel');
SELECT ok((SELECT abs(sum(contribution) FILTER (WHERE coordinate <> 'total')
                      - sum(contribution) FILTER (WHERE coordinate = 'total')) < 1e-12
             FROM recs.explain(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}'))
      AND (SELECT contribution FROM recs.explain(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}')
            WHERE coordinate = 'total') = recs.glmix_logit(recs.model_id('ch_model'), 2, 1, context => '{"channel": "feed"}'),
          'explain''s parts add up to glmix_logit under the context');
SELECT is((SELECT array_agg(coordinate || ':' || has_model || ':' || contribution ORDER BY coordinate)
             FROM recs.explain(recs.model_id('ch_model'), 2, 1) WHERE coordinate = 'channel'),
          '{channel:false:0}', 'explain without a context: the channel has no model and contributes 0');
SELECT throws_ok($$SELECT recs.glmix_score(recs.model_id('ch_model'), 2, 1, context => '["home"]')$$, '22023',
                 'context must be a JSON object', 'a context that is not an object is an error');
SELECT throws_ok($$SELECT recs.glmix_score(recs.model_id('ch_model'), 2, 1, context => '{"channel": ["home"]}')$$, '22023',
                 'context key "channel" must be a string, a number, a boolean or null',
                 'a channel that is an array is an error');
SELECT is(recs.glmix_score(NULL, 2, 1, context => '{"channel": "home"}'), NULL, 'a NULL model gives NULL');
SELECT is((SELECT count(*)::int FROM recs.explain(recs.model_id('ch_model'), NULL, 1)), 0,
          'explain of a NULL learner has no rows');

-- numbers are keys by their text; NULL keys in training are rows without the effect
CREATE TABLE ch.imp2 AS SELECT learner_id, course_id, clicked,
       CASE channel WHEN 'home' THEN 1 ELSE CASE WHEN learner_id = 1 THEN NULL ELSE 2 END END AS slot
  FROM ch.imp;
SELECT lives_ok($$SELECT recs.train_glmix('ch.imp2', 'ch.learners', 'ch.courses', '{segment}', '{topic}',
                    name => 'ch_num', random_effects => '{slot}', l2 => '{1,1}')$$,
                'an integer column keys a random effect too');
SELECT is((SELECT array_agg(entity || ':' || rows ORDER BY entity) FROM recs.glmix_coef
            WHERE model_id = recs.model_id('ch_num') AND coordinate = 'slot'),
          '{1:80,2:76}', 'a NULL key is a row without that effect (the 4 feed rows of learner 1)');
SELECT ok(recs.glmix_logit(recs.model_id('ch_num'), 2, 1, context => '{"slot": 1}')
          = recs.glmix_logit(recs.model_id('ch_num'), 2, 1, context => '{"slot": "1"}')
      AND recs.glmix_logit(recs.model_id('ch_num'), 2, 1, context => '{"slot": 1}') > recs.glmix_logit(recs.model_id('ch_num'), 2, 1),
          'a JSON number matches the key''s text');

-- validation rows take their channel's effect by value: here "home" is renamed "aa",
-- which sorts first and is unknown to the model (effect 0), while "feed" is known
CREATE VIEW ch.val_renamed AS
SELECT learner_id, course_id, clicked, CASE channel WHEN 'home' THEN 'aa' ELSE channel END AS channel FROM ch.imp;
SELECT recs.train_glmix('ch.imp', 'ch.learners', 'ch.courses', '{segment}', '{topic}', name => 'ch_val',
                        random_effects => '{channel}', l2 => '{1,1}', validation => 'ch.val_renamed') AS ch_val \gset
SELECT ok(abs((SELECT (metrics->>'validation_logloss')::float8 FROM recs.model WHERE model_id = :ch_val)
              - (SELECT avg(ln(1 + exp(z)) - clicked::int * z)
                   FROM (SELECT clicked, recs.glmix_logit(:ch_val, learner_id, course_id,
                                                          context => jsonb_build_object('channel', channel)) AS z
                           FROM ch.val_renamed) v)) < 1e-5,
          'validation log-loss: each row scored under its own channel as context');

-- a random-effect column found nowhere; a validation relation without it
SELECT throws_ok($$SELECT recs.train_glmix('ch.imp', 'ch.learners', 'ch.courses', '{segment}', '{topic}',
                    name => 'ch_bad', random_effects => '{device}')$$, '42703',
                 'random-effect column "device" is not a column of ch.learners, ch.courses or ch.imp',
                 'a random-effect column of no relation is an error');
CREATE VIEW ch.val AS SELECT learner_id, course_id, clicked FROM ch.imp;
SELECT throws_ok($$SELECT recs.train_glmix('ch.imp', 'ch.learners', 'ch.courses', '{segment}', '{topic}',
                    name => 'ch_bad', random_effects => '{channel}', validation => 'ch.val')$$, '42703',
                 'column "channel" of ch.val does not exist',
                 'a validation relation must have the column too');

-- ---------------------------------------------------------------------------
-- The sample data: watch time follows what the features see, so weighting
-- clicks by it ranks long-watch clicks above short ones, at no cost in click
-- AUC; the channels' click behaviour is recovered.  600 learners x 80
-- courses, trained on the first 80 % of impressions, scored on the rest.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE gen AS SELECT * FROM recs.generate_sample('wt', 600, 80, 42);
CREATE TABLE wt.cut AS SELECT percentile_disc(0.8) WITHIN GROUP (ORDER BY shown_at) AS t FROM wt.impressions;
CREATE VIEW wt.train AS SELECT i.* FROM wt.impressions i, wt.cut WHERE i.shown_at < cut.t;
CREATE VIEW wt.test AS SELECT i.* FROM wt.impressions i, wt.cut WHERE i.shown_at >= cut.t;
CREATE TEMP TABLE trained AS
SELECT recs.train_glmix('wt.train', 'wt.learners', 'wt.courses', '{industry,segment,skills}',
                        '{topic,difficulty,skills,duration_minutes}', name => 'wt_' || w, weighting => w,
                        crosses => '{industry:topic}')
  FROM unnest('{none,watch_time}'::text[]) w;
-- AUC (Mann-Whitney, ties 1/2) of score s for label p
CREATE FUNCTION pg_temp.auc(p boolean[], s float8[]) RETURNS float8 LANGUAGE sql AS $$
    WITH r AS (SELECT p, rank() OVER (ORDER BY s) + (count(*) OVER (PARTITION BY s) - 1) / 2.0 AS r
                 FROM unnest(p, s) u(p, s))
    SELECT ((sum(r) FILTER (WHERE p) - count(*) FILTER (WHERE p) * (count(*) FILTER (WHERE p) + 1) / 2.0)
            / (count(*) FILTER (WHERE p) * count(*) FILTER (WHERE NOT p)))::float8 FROM r $$;
CREATE TEMP TABLE sc AS
SELECT t.clicked, t.clicked AND t.watch_seconds >= 0.5 * c.duration_minutes * 60 AS long_watch,
       recs.glmix_logit(recs.model_id('wt_none'), t.learner_id, t.course_id) AS s_none,
       recs.glmix_logit(recs.model_id('wt_watch_time'), t.learner_id, t.course_id) AS s_wt
  FROM wt.test t JOIN wt.courses c USING (course_id);
CREATE TEMP TABLE aucs AS
SELECT pg_temp.auc(array_agg(long_watch) FILTER (WHERE clicked), array_agg(s_none) FILTER (WHERE clicked)) AS long_none,
       pg_temp.auc(array_agg(long_watch) FILTER (WHERE clicked), array_agg(s_wt) FILTER (WHERE clicked)) AS long_wt,
       pg_temp.auc(array_agg(clicked), array_agg(s_none)) AS click_none,
       pg_temp.auc(array_agg(clicked), array_agg(s_wt)) AS click_wt
  FROM sc;
SELECT ok(long_wt > 0.55, format('weighted by watch time, long-watch clicks rank above short ones (AUC %s > 0.55)',
                                  round(long_wt::numeric, 4))) FROM aucs;
SELECT ok(long_wt > long_none + 0.02, format('and better than without weighting (%s against %s)',
                                             round(long_wt::numeric, 4), round(long_none::numeric, 4))) FROM aucs;
SELECT ok(abs(click_wt - click_none) < 0.005, format('click AUC stays within 0.005 (%s weighted, %s not)',
                                                    round(click_wt::numeric, 4), round(click_none::numeric, 4))) FROM aucs;

INSERT INTO trained
SELECT recs.train_glmix('wt.train', 'wt.learners', 'wt.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'wt_channel', random_effects => '{learner_id,course_id,channel}');
SELECT is((SELECT array_agg(entity ORDER BY coef) FROM recs.glmix_coefficients
            WHERE model_id = recs.model_id('wt_channel') AND coordinate = 'channel' AND feature = '(intercept)'),
          '{feed,home,search}', 'the sample''s channels: the feed is clicked least, search most');

SELECT * FROM finish();
ROLLBACK;
