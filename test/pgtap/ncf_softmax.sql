-- test/pgtap/ncf_softmax.sql -- train_ncf(loss => 'softmax'): the sampled
-- softmax over in-batch negatives with the log-Q correction.  The row kernel
-- against hand-computed answers and finite differences; the whole loss of a
-- one-batch epoch against the same loss computed in SQL from the model's own
-- towers; reproducibility; quality on generated data; the options.
BEGIN;
SELECT plan(33);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- the row kernel
-- scores (1, 2, 0), label 2, no correction: loss = log(e + e^2 + 1) - 2,
-- gradient = softmax - onehot(label)
SELECT loss AS l1, gradient AS g1 FROM recs._ncf_softmax_loss('{1,2,0}', 2, '{0,0,0}') \gset
SELECT ok(abs(:l1 - (ln(exp(1) + exp(2) + 1) - 2)) < 1e-6,
          format('loss of scores (1, 2, 0), label 2: %s = log(e + e^2 + 1) - 2', :l1));
SELECT ok(abs((:'g1'::real[])[1] - exp(1) / (exp(1) + exp(2) + 1)) < 1e-6
          AND abs((:'g1'::real[])[2] - (exp(2) / (exp(1) + exp(2) + 1) - 1)) < 1e-6
          AND abs((:'g1'::real[])[3] - 1 / (exp(1) + exp(2) + 1)) < 1e-6,
          'its gradient is softmax(scores) - onehot(label)');
SELECT ok(abs((SELECT sum(g) FROM unnest(:'g1'::real[]) g)) < 1e-6, 'the gradient sums to 0');
-- equal scores, log q = log(0.5, 0.25, 0.25): the corrected logits are
-- (log 2, log 4, log 4), so the popular label gets 2 / (2 + 4 + 4)
SELECT ok(abs(loss - ln(5)) < 1e-6, format('log-Q correction: loss %s = -log(2 / 10)', loss))
  FROM recs._ncf_softmax_loss('{0.5,0.5,0.5}', 1, ARRAY[ln(0.5), ln(0.25), ln(0.25)]::real[]);
-- a masked column (-Infinity) takes no part: as if it were not there, gradient 0
SELECT ok(abs(a.loss - b.loss) < 1e-7 AND a.gradient[3] = 0
          AND abs(a.gradient[1] - b.gradient[1]) < 1e-7 AND abs(a.gradient[2] - b.gradient[2]) < 1e-7,
          'a masked column is left out of the softmax and gets no gradient')
  FROM recs._ncf_softmax_loss('{0.3,-1.2,"-Infinity",0.7}', 4, '{-1,-2,-3,-0.5}') a,
       recs._ncf_softmax_loss('{0.3,-1.2,0.7}', 3, '{-1,-2,-0.5}') b
 WHERE (SELECT a.gradient[4] IS NOT NULL);
-- temperature T: the loss of scores / T, its gradient divided by T
SELECT ok(abs(a.loss - b.loss) < 1e-6 AND abs(a.gradient[2] - b.gradient[2] / 0.25) < 1e-5,
          'temperature 0.25 is the loss of scores x 4, gradient x 4')
  FROM recs._ncf_softmax_loss('{0.1,0.4,-0.2}', 1, '{-1,-1.5,-2}', 0.25) a,
       recs._ncf_softmax_loss('{0.4,1.6,-0.8}', 1, '{-1,-1.5,-2}') b;
-- finite differences: (L(s + h e_c) - L(s - h e_c)) / 2h against the gradient
SELECT ok(max(abs((p.loss - m.loss) / 0.002 - g.gradient[c])) < 1e-3,
          'the gradient matches central finite differences in every column')
  FROM recs._ncf_softmax_loss('{0.8,-0.3,1.1,0.05,-2}', 3, '{-1.2,-0.7,-2.3,-1.6,-3}', 0.7) g,
       generate_series(1, 5) c,
       LATERAL recs._ncf_softmax_loss((SELECT array_agg(CASE WHEN i = c THEN x + 0.001 ELSE x END ORDER BY i)::real[]
                                         FROM unnest('{0.8,-0.3,1.1,0.05,-2}'::real[]) WITH ORDINALITY u(x, i)),
                                      3, '{-1.2,-0.7,-2.3,-1.6,-3}', 0.7) p,
       LATERAL recs._ncf_softmax_loss((SELECT array_agg(CASE WHEN i = c THEN x - 0.001 ELSE x END ORDER BY i)::real[]
                                         FROM unnest('{0.8,-0.3,1.1,0.05,-2}'::real[]) WITH ORDINALITY u(x, i)),
                                      3, '{-1.2,-0.7,-2.3,-1.6,-3}', 0.7) m;

-- ---------------------------------------------------------------- one batch, in SQL
-- A batch that holds every positive: its loss, logged for epoch 1 before
-- any update, is the mean over the positives of the masked, log-Q corrected
-- softmax over all positive courses, with each positive's learner embedding
-- the tower over its training context and the course embeddings the
-- tower's.  A learning rate of 1e-20 leaves the stored towers as they were.
CREATE SCHEMA sm;
SELECT count(*) AS n_sm FROM recs.generate_sample('sm', 70, 15, 4) \gset
SELECT count(*) AS n_pos FROM recs._ncf_training_contexts('sm.watches') \gset
SELECT recs.train_ncf('sm.watches', 'sm_one', layers => '{16}', dim => 8, epochs => 1,
                      batch_size => :n_pos, learning_rate => 1e-20, seed => 5,
                      activate => false, loss => 'softmax') AS one \gset
CREATE TEMP TABLE pos AS
SELECT row_number() OVER () AS p, t.learner_id, t.course_id,
       recs.embed_learner(:one, t.context) AS u
  FROM recs._ncf_training_contexts('sm.watches') t;
CREATE TEMP TABLE col AS
SELECT c.course_id, c.embedding AS v, ln(count(*)::float8 / :n_pos) AS logq
  FROM pos JOIN recs.ncf_course c ON c.model_id = :one AND c.course_id = pos.course_id
 GROUP BY c.course_id, c.embedding;
CREATE TEMP TABLE logit AS
SELECT pos.p, col.course_id, col.course_id = pos.course_id AS is_label,
       (SELECT sum(a * b) FROM unnest(pos.u, col.v) x(a, b)) - col.logq AS z
  FROM pos JOIN recs.model_learner m ON m.model_id = :one AND m.learner_id = pos.learner_id
       CROSS JOIN col
 WHERE col.course_id = pos.course_id OR NOT col.course_id = ANY (m.watched);
SELECT avg(lse - zl) AS sql_loss FROM (
    SELECT p, max(z) + ln(sum(exp(z - mx))) AS lse, max(z) FILTER (WHERE is_label) AS zl
      FROM (SELECT *, max(z) OVER (PARTITION BY p) AS mx FROM logit) l GROUP BY p) r \gset
SELECT ok(abs((metrics->'loss'->>0)::float8 - :sql_loss) < 1e-4,
          format('one batch: the trainer''s loss %s is the masked, log-Q corrected softmax computed in SQL, %s',
                 metrics->'loss'->>0, round(:sql_loss::numeric, 5)))
  FROM recs.model WHERE model_id = :one;
SELECT ok((SELECT count(*) FROM logit WHERE NOT is_label) < (SELECT (count(*) - 1) * :n_pos FROM col),
          'the learners'' other watched courses were masked in that check (it would not hold without)');

-- ---------------------------------------------------------------- stored, reproducible
SELECT recs.train_ncf('sm.watches', 'sm_a', layers => '{16}', dim => 8, epochs => 4, batch_size => 32,
                      seed => 9, threads => 2, activate => false, loss => 'softmax') AS a \gset
SELECT recs.train_ncf('sm.watches', 'sm_b', layers => '{16}', dim => 8, epochs => 4, batch_size => 32,
                      seed => 9, threads => 2, activate => false, loss => 'softmax') AS b \gset
SELECT recs.train_ncf('sm.watches', 'sm_c', layers => '{16}', dim => 8, epochs => 4, batch_size => 32,
                      seed => 10, threads => 2, activate => false, loss => 'softmax') AS c \gset
SELECT recs.train_ncf('sm.watches', 'sm_d', layers => '{16}', dim => 8, epochs => 4, batch_size => 32,
                      seed => 9, threads => 2, activate => false) AS d \gset
SELECT is((SELECT count(*) FROM recs.ncf_course x JOIN recs.ncf_course y USING (course_id)
            WHERE x.model_id = :a AND y.model_id = :b AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_course WHERE model_id = :a),
          'a seed and a thread count give bit-identical course embeddings');
SELECT is((SELECT count(*) FROM recs.ncf_learner x JOIN recs.ncf_learner y USING (learner_id)
            WHERE x.model_id = :a AND y.model_id = :b AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :a),
          'and bit-identical learner embeddings');
SELECT isnt((SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :a),
            (SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :c),
            'another seed gives another model');
SELECT isnt((SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :a),
            (SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :d),
            'the binary loss with the same seed trains another model');
SELECT is((SELECT params->>'loss' FROM recs.model WHERE model_id = :a), 'softmax',
          'the model''s params say which loss trained it');
SELECT is((SELECT params->>'loss' FROM recs.model WHERE model_id = :d), 'binary', 'binary models too');
SELECT is((SELECT (metrics->>'instances_per_epoch')::bigint FROM recs.model WHERE model_id = :a),
          :n_pos::bigint, 'a softmax epoch has one instance per positive (no drawn negatives)');
SELECT ok((SELECT (metrics->'loss'->>3)::float8 < (metrics->'loss'->>0)::float8 FROM recs.model WHERE model_id = :a),
          'the loss goes down over the epochs');

-- ---------------------------------------------------------------- options
SELECT throws_ok($$SELECT recs.train_ncf('sm.watches', epochs => 1, loss => 'hinge')$$, '22023',
                 'loss must be one of ''binary'', ''softmax'' or ''auto'', not "hinge"', 'an unknown loss is an error');
SELECT throws_ok($$SELECT recs.train_ncf('sm.watches', epochs => 1, loss => 'softmax', batch_size => 1)$$, '22023',
                 'batch_size must be at least 2 with loss ''softmax''',
                 'a softmax batch needs a second course to be a negative');
SELECT is((SELECT params->>'loss_auto' || ' ' || (params->>'epochs_auto') FROM recs.model WHERE model_id = :a),
          'false false', 'a loss and epochs given are not chosen');

-- loss 'auto' and epochs NULL on any number of positives (ncf_auto_config):
-- the softmax from 200,000 positives on; the binary loss's 20 epochs, the
-- softmax's epochs of 2 million positives (rounded up, 1 to 20)
SELECT is(ARRAY(SELECT chosen_loss || ' ' || chosen_epochs
                  FROM unnest(ARRAY[1, 199999, 200000, 670349, 1999999, 2000000, 9800000, 1000000000]::bigint[]) n,
                       recs._ncf_auto_config(n)),
          ARRAY['binary 20', 'binary 20', 'softmax 10', 'softmax 3', 'softmax 2', 'softmax 1', 'softmax 1', 'softmax 1'],
          'loss ''auto'': binary below 200,000 positives; epochs NULL: 20 binary, 2 million positives softmax');
SELECT is(ARRAY(SELECT chosen_loss || ' ' || chosen_epochs FROM recs._ncf_auto_config(9800000, 'binary')
                UNION ALL SELECT chosen_loss || ' ' || chosen_epochs FROM recs._ncf_auto_config(9800000, 'auto', 30)
                UNION ALL SELECT chosen_loss || ' ' || chosen_epochs FROM recs._ncf_auto_config(1000, 'softmax', 3)
                UNION ALL SELECT chosen_loss || ' ' || chosen_epochs FROM recs._ncf_auto_config(1000, 'softmax')),
          ARRAY['binary 20', 'softmax 30', 'softmax 3', 'softmax 20'],
          'a loss or epochs given stays; the other is still chosen');
SELECT is((SELECT chosen_loss || ' ' || chosen_epochs FROM recs._ncf_auto_config(1000, NULL, NULL)),
          'binary 20', 'NULL loss is ''auto''');
SELECT throws_ok($$SELECT recs._ncf_auto_config(0)$$, '22023', 'positives must be at least 1',
                 'no positives: an error');
SELECT throws_ok($$SELECT recs._ncf_auto_config(NULL)$$, '22004', NULL, 'NULL positives: an error');
SELECT throws_ok($$SELECT recs.train_ncf('sm.watches', loss => 'auto', batch_size => 1, negatives => 0)$$, '22023', NULL,
                 'loss ''auto'' takes the stricter of the two losses'' batch_size checks');
SELECT lives_ok($$SELECT recs.train_ncf('sm.watches', 'sm_small', epochs => 1, loss => 'softmax',
                                        batch_size => 3, negatives => 4, activate => false)$$,
                'negatives means nothing to the softmax: batch_size 3 with negatives 4 is fine');

-- ---------------------------------------------------------------- quality
-- Train on the first 85% of the time span, evaluate on the rest (as in
-- ncf.sql): the softmax model must beat popularity clearly and come close to
-- the binary model.  The data are small (about 4,200 positives), so the batch
-- is too: a softmax epoch is one step per batch (docs/ncf.md#softmax-loss).
SELECT count(*) AS n_nq FROM recs.generate_sample('nq', 1200, 80, 3) \gset
SELECT percentile_disc(0.85) WITHIN GROUP (ORDER BY watched_at) AS cutoff FROM nq.watches \gset
CREATE VIEW nq.train AS SELECT * FROM nq.watches WHERE watched_at < :'cutoff';
CREATE TEMP TABLE future AS
SELECT DISTINCT w.learner_id, w.course_id FROM nq.watches w
 WHERE w.watched_at >= :'cutoff' AND w.watch_seconds >= 60
   AND EXISTS (SELECT 1 FROM nq.train t WHERE t.learner_id = w.learner_id AND t.watch_seconds >= 60)
   AND NOT EXISTS (SELECT 1 FROM nq.train t WHERE t.learner_id = w.learner_id
                      AND t.course_id = w.course_id AND t.watch_seconds >= 60);
SELECT recs.train_popularity('nq.train', 'nq.learners', 'nq_pop') AS pop \gset
SELECT recs.train_ncf('nq.train', 'nq_bin', courses => 'nq.courses', seed => 1, threads => 2,
                      activate => false) AS bin \gset
SELECT recs.train_ncf('nq.train', 'nq_sm', courses => 'nq.courses', seed => 1, threads => 2,
                      batch_size => 128, loss => 'softmax', activate => false) AS sm \gset
-- nq_bin has the default loss, 'auto', on 4,200 positives: the binary loss, 20 epochs
SELECT is((SELECT params->>'loss' || ' ' || (params->>'loss_auto') || ' ' || (params->>'epochs')
                  || ' ' || (params->>'epochs_auto') FROM recs.model WHERE model_id = :bin),
          'binary true 20 true', 'loss ''auto'' and epochs NULL (the defaults) on small data: binary, 20 epochs');
SELECT (recs.evaluate(:pop, 'future', 10, store => false)->>'recall')::float8 AS pop_recall \gset
SELECT (recs.evaluate(:bin, 'future', 10, store => false)->>'recall')::float8 AS bin_recall \gset
SELECT (recs.evaluate(:sm, 'future', 10, store => false)->>'recall')::float8 AS sm_recall \gset
SELECT ok(:sm_recall > 1.3 * :pop_recall,
          format('softmax NCF Recall@10 %s beats trending popularity %s by 30%%',
                 round(:sm_recall::numeric, 3), round(:pop_recall::numeric, 3)));
SELECT ok(:sm_recall > 0.9 * :bin_recall,
          format('and is within 10%% of the binary loss''s %s', round(:bin_recall::numeric, 3)));

SELECT recs.train_ncf('nq.train', 'nq_sm_att', courses => 'nq.courses', seed => 1, threads => 2,
                      batch_size => 128, loss => 'softmax', encoder => 'attention',
                      attention_window => 10, activate => false) AS sma \gset
SELECT recs.train_ncf('nq.train', 'nq_sm_att2', courses => 'nq.courses', seed => 1, threads => 2,
                      batch_size => 128, loss => 'softmax', encoder => 'attention',
                      attention_window => 10, activate => false) AS sma2 \gset
SELECT is((SELECT count(*) FROM recs.ncf_learner x JOIN recs.ncf_learner y USING (learner_id)
            WHERE x.model_id = :sma AND y.model_id = :sma2 AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :sma),
          'softmax with the attention encoder: bit-identical on 2 threads');
SELECT ok((SELECT bool_or(x <> 0) FROM recs.ncf_layer l, unnest(l.weight || l.bias) x
            WHERE l.model_id = :sma AND l.tower = 'attention'),
          'the softmax loss trains the attention encoder''s parameters (they start at 0)');
SELECT (recs.evaluate(:sma, 'future', 10, store => false)->>'recall')::float8 AS sma_recall \gset
SELECT ok(:sma_recall > 1.3 * :pop_recall,
          format('softmax with attention: Recall@10 %s beats trending popularity by 30%%',
                 round(:sma_recall::numeric, 3)));

SELECT * FROM finish();
ROLLBACK;
