-- pgvector.sql -- recs' embeddings in pgvector: course_embeddings cast to
-- vector, an HNSW index whose cosine top 10 is similar_courses' top 10.
-- Runs where the vector extension is available (PostgreSQL 17's suite
-- installs it); recs itself never requires it.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(5);
SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') AS have_vector \gset

-- without pgvector: the embeddings as rows still
SELECT count(*) FROM recs.generate_sample('pv', 150, 40, 23);
SELECT recs.train_ncf('pv.watches', 'pv_ncf', courses => 'pv.courses', layers => '{16}', dim => 8, epochs => 2,
                      activate => false) AS ncf \gset
SELECT is((SELECT count(*)::int FROM recs.course_embeddings(:ncf) WHERE cardinality(embedding) = 8),
          (SELECT count(*)::int FROM pv.courses), 'course_embeddings: one 8-d embedding per course');

\if :have_vector
CREATE EXTENSION vector;
CREATE TABLE pv.course_vec AS SELECT course_id, embedding::vector(8) AS v FROM recs.course_embeddings(:ncf);
CREATE INDEX ON pv.course_vec USING hnsw (v vector_cosine_ops);
SET LOCAL hnsw.ef_search = 100;
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*)::int FROM pv.course_vec), (SELECT count(*)::int FROM pv.courses),
          'real[] casts to vector: a row per course');
SELECT ok((SELECT bool_and(x) FROM (
             SELECT (SELECT array_agg(v.course_id ORDER BY v.course_id)
                       FROM (SELECT b.course_id FROM pv.course_vec b WHERE b.course_id <> a.course_id
                              ORDER BY b.v <=> a.v LIMIT 10) v)
                    = (SELECT array_agg(s.course_id ORDER BY s.course_id) FROM recs.similar_courses(a.course_id, 10, :ncf) s) AS x
               FROM pv.course_vec a) t),
          'for every course, the HNSW cosine top 10 is similar_courses'' top 10');
SELECT ok((SELECT max(abs((1 - (b.v <=> a.v)) - s.similarity)) FROM pv.course_vec a,
                  LATERAL recs.similar_courses(a.course_id, 5, :ncf) s JOIN pv.course_vec b ON b.course_id = s.course_id) < 1e-5,
          'and 1 - cosine distance is its similarity');
SELECT is((SELECT count(*)::int FROM recs.learner_embeddings(:ncf) l WHERE (l.embedding::vector(8)) IS NOT NULL),
          (SELECT count(*)::int FROM recs.ncf_learner WHERE model_id = :ncf), 'learner_embeddings cast too');
\else
SELECT skip('pgvector is not installed here', 4);
\endif

SELECT * FROM finish();
ROLLBACK;
