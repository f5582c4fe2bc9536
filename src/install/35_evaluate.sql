-- 35_evaluate.sql -- offline evaluation of a model, or of several side by side.

CREATE FUNCTION recs.evaluate(
    model bigint,
    test regclass,
    k integer DEFAULT 10,
    protocol text DEFAULT 'full',
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    negatives_column text DEFAULT 'negatives',
    label_column text DEFAULT 'clicked',
    store boolean DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'evaluate_model'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.evaluate(bigint, regclass, integer, text, text, text, text, text, boolean) IS
    'quality of a model on a test relation (full: Recall, NDCG, MRR, coverage; sampled: HR, NDCG; response: AUC, log-loss); store => true keeps it in the model''s metrics (NULL: when the caller may update recs.model)';

-- several models on one test relation, as rows to compare or pivot
CREATE FUNCTION recs.evaluate_models(
    models bigint[],
    test regclass,
    k integer DEFAULT 10,
    protocol text DEFAULT 'full',
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    negatives_column text DEFAULT 'negatives',
    label_column text DEFAULT 'clicked',
    store boolean DEFAULT NULL)
RETURNS TABLE (model bigint, metric text, value float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint;
    r jsonb;
BEGIN
    IF models IS NULL OR array_position(models, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'models must not be NULL or hold NULL',
            HINT = 'Pass the model ids to compare, e.g. ARRAY[recs.model_id(''ncf''), recs.model_id(''blend'')].';
    END IF;
    FOREACH m IN ARRAY models LOOP
        r := recs.evaluate(m, test, k, protocol, learner_column, course_column, negatives_column,
                           label_column, store);
        RETURN QUERY SELECT m, e.key, e.value::text::float8
                       FROM jsonb_each(r) e
                      WHERE jsonb_typeof(e.value) = 'number'
                      ORDER BY e.key;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.evaluate_models(bigint[], regclass, integer, text, text, text, text, text, boolean) IS
    'recs.evaluate of each model on one test relation, as (model, metric, value) rows in the order of models';
