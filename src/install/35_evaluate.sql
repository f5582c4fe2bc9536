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
