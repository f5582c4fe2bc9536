-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit
