-- 90_citus.sql -- recs on a Citus cluster: recs' tables as reference tables,
-- so every node holds every model and serves it (README "Scaling out with
-- Citus"; docs/architecture.md "Citus").

CREATE FUNCTION recs.citus_setup()
RETURNS TABLE (table_name regclass, action text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    r record;
    done regclass[];
    fk_rel regclass[];
    fk_name text[];
BEGIN
    PERFORM recs._require_owner('citus_setup');
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'extension citus is not installed in this database',
            HINT = 'recs.citus_setup() is for a Citus coordinator: CREATE EXTENSION citus, add the workers, then CREATE EXTENSION recs.';
    END IF;
    -- Citus's catalog by dynamic SQL: this function must install without it
    EXECUTE $q$SELECT coalesce(array_agg(p.logicalrelid), '{}') FROM pg_catalog.pg_dist_partition p
                JOIN pg_class c ON c.oid = p.logicalrelid
               WHERE c.relnamespace = 'recs'::regnamespace AND p.partmethod = 'n' AND p.repmodel = 't'$q$
       INTO done;
    -- The foreign keys from recs' part tables to recs.model go: Citus cannot
    -- turn a table into a reference table while local tables reference it
    -- (it would convert them first, dropping and re-creating the extension's
    -- views and sequence), and it refuses to write a reference table that
    -- foreign keys reference after a parallel query in the same transaction
    -- -- which is every training on distributed tables (read, then store).
    -- recs.drop_model deletes a model's parts itself, so nothing relies on
    -- their cascade.
    SELECT array_agg(k.conrelid::regclass), array_agg(k.conname::text)
      INTO fk_rel, fk_name
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
     WHERE k.contype = 'f' AND c.relnamespace = 'recs'::regnamespace
       AND k.conrelid <> ALL (done);
    FOR i IN 1 .. coalesce(cardinality(fk_rel), 0) LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk_rel[i], fk_name[i]);
    END LOOP;
    -- the extension's own tables (a Citus shard is not one of its members)
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
               JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'recs'
              WHERE c.relkind = 'r'
              ORDER BY c.relname <> 'model', c.relname
    LOOP
        IF r.rel = ANY (done) THEN
            table_name := r.rel; action := 'already a reference table';
        ELSE
            EXECUTE 'SELECT create_reference_table($1)' USING r.rel;
            -- the rows are now in each node's copy; the shell keeps none
            EXECUTE 'SELECT truncate_local_data_after_distributing_table($1)' USING r.rel;
            table_name := r.rel; action := 'made a reference table';
        END IF;
        RETURN NEXT;
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(fk_rel), 0) LOOP
        -- the workers' copies of the extension's tables (made by CREATE
        -- EXTENSION there) still have the key: dropped through Citus now
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', fk_rel[i], fk_name[i]);
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.citus_setup() IS
    'on a Citus coordinator: make every recs table a reference table, so models are stored on, and served by, every node (idempotent)';
REVOKE EXECUTE ON FUNCTION recs.citus_setup() FROM PUBLIC;

-- grant_access and revoke_access on a coordinator: the same call on every
-- worker.  The serving functions are no Citus objects, so Citus does not
-- propagate their GRANTs; each node makes its own, with DDL propagation
-- off (grant_access sets it), and a worker calls no further:
-- citus_is_coordinator() is false there.  The workers commit on their own
-- connections: should one fail, the coordinator's transaction fails and
-- the call, idempotent, can be repeated.
CREATE FUNCTION recs._citus_on_workers(call text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
    coordinator boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
        RETURN 0;
    END IF;
    -- Citus's functions by dynamic SQL: this function must install without it
    EXECUTE 'SELECT citus_is_coordinator()' INTO coordinator;
    IF NOT coordinator THEN
        RETURN 0;
    END IF;
    -- one statement of one column (of a list of statements
    -- run_command_on_workers reports the first one's result only)
    FOR r IN EXECUTE 'SELECT nodename, nodeport, success, result FROM run_command_on_workers($1)'
             USING 'SELECT ' || call
    LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION USING ERRCODE = 'external_routine_exception',
                MESSAGE = format('%s failed on Citus worker %s:%s', call, r.nodename, r.nodeport),
                DETAIL = r.result,
                HINT = 'Fix the worker (recs installed, the role present), then run the call again on the coordinator.';
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION recs._citus_on_workers(text) IS
    'private: on a Citus coordinator, run a recs call (SELECT call) on every worker; returns how many workers, 0 elsewhere';
REVOKE EXECUTE ON FUNCTION recs._citus_on_workers(text) FROM PUBLIC;
