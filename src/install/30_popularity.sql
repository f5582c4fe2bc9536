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
    language_column text DEFAULT 'language',
    learners_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_popularity'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_popularity(regclass, regclass, text, float8, float8,
    timestamptz, boolean, float8, text, text, text, text, text, text) IS
    'train a popularity-by-language model from a watches relation; returns the model id';
