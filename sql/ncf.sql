-- ncf.sql -- the two-tower neural collaborative filtering model, by example.
--
-- Training prints timing NOTICEs (examples/s, seconds); they differ from run
-- to run, so this tutorial shows warnings and errors only.
SET client_min_messages = warning;

-- A small generated learning platform: 300 learners, 60 courses.
SELECT table_name, row_count FROM recs.generate_sample('ncf_demo', 300, 60, 7);

-- Train an NCF model.  The courses relation makes every course rankable,
-- even one that nobody watched.  Small towers keep the example fast:
-- a sparse layer of 32 units, a dense layer of 16, embeddings of 8.
SELECT recs.train_ncf('ncf_demo.watches', 'tutorial', courses => 'ncf_demo.courses',
                      layers => '{32,16}', dim => 8, epochs => 5, seed => 1) AS model_id
\gset

SELECT name, kind, version, params->'layers' AS layers, params->'dim' AS dim,
       params->'epochs' AS epochs, deployed_in
  FROM recs.models WHERE model_id = :model_id;

-- What training saw, and the loss going down epoch by epoch.
SELECT metrics->'learners' AS learners, metrics->'courses' AS courses,
       metrics->'positives' AS positives,
       metrics->'instances_per_epoch' AS instances_per_epoch,
       (metrics->'loss'->>0)::float8 > (metrics->'loss'->>4)::float8 AS loss_decreased
  FROM recs.model WHERE model_id = :model_id;

-- The stored parts: both towers' layers, one embedding per course and per
-- learner, the co-watch similarities the course tower reads.
SELECT tower, layer, n_in, n_out, cardinality(weight) AS weights, cardinality(bias) AS biases
  FROM recs.ncf_layer WHERE model_id = :model_id ORDER BY tower, layer;
SELECT count(*) AS courses, min(cardinality(embedding)) AS dim,
       count(*) FILTER (WHERE watchers = 0) AS never_watched
  FROM recs.ncf_course WHERE model_id = :model_id;
SELECT (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :model_id) AS learner_embeddings,
       (SELECT count(*) FROM recs.model_learner WHERE model_id = :model_id) AS model_learners;
SELECT count(*) > 0 AS has_pairs, bool_and(similarity > 0 AND similarity <= 1) AS in_range,
       bool_and(course_id <> neighbour_id) AS no_self
  FROM recs.ncf_cowatch WHERE model_id = :model_id;

-- recommend() serves the active model: top k by the dot product of the
-- embeddings, excluding what the learner watched.
SELECT count(*) AS recommended,
       bool_and(NOT course_id = ANY (watched)) AS none_watched,
       bool_and(score <= prev_score) AS best_first
  FROM (SELECT r.course_id, r.score, ml.watched,
               lag(r.score, 1, 'infinity') OVER (PARTITION BY ml.learner_id ORDER BY r.rank) AS prev_score
          FROM (SELECT * FROM recs.model_learner WHERE model_id = :model_id
                 ORDER BY learner_id LIMIT 20) ml,
               LATERAL recs.recommend(ml.learner_id, 5) r) x;

-- score() is that dot product.
SELECT abs(recs.score(:model_id, l.learner_id, c.course_id)
           - (SELECT sum(a * b) FROM unnest(l.embedding, c.embedding) AS t(a, b))) < 1e-4 AS score_is_dot
  FROM recs.ncf_learner l, recs.ncf_course c
 WHERE l.model_id = :model_id AND c.model_id = :model_id
 ORDER BY l.learner_id, c.course_id LIMIT 3;

-- A learner the model does not know gets the embedding of an empty history.
SELECT abs(recs.score(:model_id, -1, c.course_id)
           - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:model_id, '{}'), c.embedding) AS t(a, b))) < 1e-4
       AS unknown_is_empty_history
  FROM recs.ncf_course c WHERE c.model_id = :model_id ORDER BY c.course_id LIMIT 1;

-- embed_learner() runs the learner tower on the fly: for a learner whose
-- watches all fall in the 365-day window it reproduces the stored embedding.
SELECT max(abs(a - b)) < 1e-5 AS same_embedding
  FROM recs.model_learner ml
  JOIN recs.ncf_learner nl USING (model_id, learner_id),
       unnest(recs.embed_learner(:model_id, ml.watched), nl.embedding) AS t(a, b)
 WHERE ml.model_id = :model_id
   AND ml.learner_id = (SELECT w.learner_id FROM ncf_demo.watches w GROUP BY 1
                         HAVING min(w.watched_at) > '2025-02-01' ORDER BY 1 LIMIT 1);

-- similar_courses(): nearest course embeddings by cosine, itself excluded.
SELECT count(*) AS neighbours, bool_and(course_id <> 1) AS excludes_self,
       bool_and(similarity BETWEEN -1.0001 AND 1.0001) AS cosine
  FROM recs.similar_courses(1, 5);

-- course_map(): the course embeddings projected on their two principal
-- components; course_map_svg() draws them, coloured by a column.
SELECT count(*) AS courses, abs(avg(x)) < 1e-5 AS centred, var_samp(x) >= var_samp(y) AS widest_first,
       abs(corr(x, y)) < 1e-4 AS uncorrelated
  FROM recs.course_map(:model_id);
SELECT left(svg, 4) AS starts, right(svg, 6) AS ends,
       (length(svg) - length(replace(svg, '<title>', ''))) / length('<title>') AS dots
  FROM (SELECT recs.course_map_svg(:model_id, 'ncf_demo.courses', 'language') AS svg) m;

-- Errors
\set VERBOSITY terse
SELECT * FROM recs.recommend(1, 0);
SELECT * FROM recs.similar_courses(1, 0);
SELECT recs.score(0, 1, 1);
SELECT recs.train_ncf('ncf_demo.watches', epochs => 0);
SELECT recs.train_ncf('ncf_demo.watches', layers => '{}');
SELECT recs.train_ncf('ncf_demo.courses');
SELECT recs.train_ncf('ncf_demo.watches', min_watch_seconds => 1e9);
SELECT recs.course_map_svg(:model_id, 'ncf_demo.courses', 'colour');
\set VERBOSITY default

-- Clean up: drop the model (undeploying it) and the sample tables.
SELECT recs.drop_model(:model_id, force => true);
SELECT count(*) AS ncf_rows_left FROM recs.ncf_course WHERE model_id = :model_id;
DROP SCHEMA ncf_demo CASCADE;
