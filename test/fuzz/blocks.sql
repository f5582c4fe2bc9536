-- blocks.sql -- a structure-aware fuzzer of the GLMix aggregates' hostile
-- inputs: train_glmix's bytea blocks, the aggregates' serialized states and
-- the row forms' arrays.  Creates schema blocks_fuzz (needs a superuser: it
-- declares int8-typed aliases of the aggregates' support functions, the only
-- way to hand the deserial functions bytes, since no SQL value has type
-- internal; test/pgtap/hostile_blocks.sql uses its builders too).
--
-- The generators build VALID blocks and states the way glmix_block_build and
-- the serial functions write them (blocks: host-endian header and parts
-- MAXALIGNed, layout in src/glmix/glmix.h; states: network byte order).  Each valid
-- one must be accepted (and a block's statistics must match the row form's on
-- the same rows); then blocks_fuzz.run() mutates them -- bit flips, bytes,
-- header fields, row pointers, columns, row ids and doubles overwritten with
-- boundary values, truncation, extension -- and calls every function that
-- takes them.  A case passes when it succeeds or fails with a clean SQLSTATE
-- (blocks_fuzz.clean); any other error is a finding.  A crash ends the
-- session, which the driver (test/fuzz/blocks.sh) detects.

CREATE SCHEMA IF NOT EXISTS blocks_fuzz;

-- the SQLSTATEs a hostile input may produce: corrupt block/state, bad argument
-- value, array subscript, NULL, program limit, numeric overflow, not an aggregate
CREATE OR REPLACE FUNCTION blocks_fuzz.clean(st text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT st IN ('XX001', '22023', '2202E', '22004', '54000', '22003', '0A000')
$$;

/*
 * SQL cannot call the aggregates' support functions: they take internal, and
 * no SQL expression has that type (not even NULL::internal).  So that the
 * deserial functions can be handed bytes, these aliases of the same C
 * symbols pass the state pointer as an int8 (by value on 64-bit builds:
 * never dereferenced by the executor), to be used within one expression.
 */
DO $$
DECLARE
    lib text := (SELECT probin FROM pg_proc WHERE oid = 'recs._glmix_fixed_deserial'::regproc);
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_deserial(bytea, int8 DEFAULT NULL) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_fixed_deserial';
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_serial(int8) RETURNS bytea
            LANGUAGE C AS %1$L, 'glmix_fixed_serial';
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_final(int8) RETURNS recs.glmix_stats
            LANGUAGE C AS %1$L, 'glmix_fixed_final';
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_block_final(int8) RETURNS float8[]
            LANGUAGE C AS %1$L, 'glmix_fixed_block_final';
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_combine(int8, int8) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_fixed_combine';
        CREATE OR REPLACE FUNCTION blocks_fuzz.fixed_block_accum(int8, bytea, float8[], float8[]) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_fixed_block_accum';
        CREATE OR REPLACE FUNCTION blocks_fuzz.entity_deserial(bytea, int8 DEFAULT NULL) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_entity_deserial';
        CREATE OR REPLACE FUNCTION blocks_fuzz.entity_serial(int8) RETURNS bytea
            LANGUAGE C AS %1$L, 'glmix_entity_serial';
        CREATE OR REPLACE FUNCTION blocks_fuzz.entity_final(int8) RETURNS float8[]
            LANGUAGE C AS %1$L, 'glmix_entity_final';
        CREATE OR REPLACE FUNCTION blocks_fuzz.entity_combine(int8, int8) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_entity_combine';
        CREATE OR REPLACE FUNCTION blocks_fuzz.entity_block_accum(int8, bytea, float8[], float8[], float8) RETURNS int8
            LANGUAGE C AS %1$L, 'glmix_entity_block_accum';
        $f$, lib);
END $$;

-- ---- little-endian encoders (the block header is host-endian: x86, arm64) ----

CREATE OR REPLACE FUNCTION blocks_fuzz.i4(v bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT decode(substr(h, 7, 2) || substr(h, 5, 2) || substr(h, 3, 2) || substr(h, 1, 2), 'hex')
      FROM (SELECT lpad(to_hex(v & 4294967295), 8, '0') AS h) q
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.i8(v bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT blocks_fuzz.i4(v & 4294967295) || blocks_fuzz.i4(v >> 32)
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.rev(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(substr(b, i, 1), ''::bytea ORDER BY i DESC), ''::bytea)
      FROM generate_series(1, length(b)) i
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.f8(v float8) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT blocks_fuzz.rev(float8send(v)) $$;

CREATE OR REPLACE FUNCTION blocks_fuzz.f8s(a float8[]) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(blocks_fuzz.f8(x), ''::bytea ORDER BY o), ''::bytea)
      FROM unnest(a) WITH ORDINALITY u(x, o)
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.i4s(a bigint[]) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(blocks_fuzz.i4(x), ''::bytea ORDER BY o), ''::bytea)
      FROM unnest(a) WITH ORDINALITY u(x, o)
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.u2s(a bigint[]) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(substr(blocks_fuzz.i4(x), 1, 2), ''::bytea ORDER BY o), ''::bytea)
      FROM unnest(a) WITH ORDINALITY u(x, o)
$$;

-- zero bytes up to a multiple of 8 (every part of a block is MAXALIGNed)
CREATE OR REPLACE FUNCTION blocks_fuzz.pad8(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT b || decode(repeat('00', (8 - length(b) % 8) % 8), 'hex')
$$;

/*
 * A block from its header fields and parts, as glmix_block_build lays it out:
 * header (44 bytes after the 4-byte varlena length) | y | w | ptr | rowid
 * (omitted when NULL) | col (u16) | val (omitted when NULL), each part
 * padded to 8 bytes from the varlena start (4 bytes before the bytea's
 * first byte).  The header is taken as given, so tests can make it disagree
 * with the parts.
 */
CREATE OR REPLACE FUNCTION blocks_fuzz.block(n int, dim int, nnz int, entity int, flags int,
                                             entity_rows int, entity_nnz int, pad int, first_row bigint,
                                             y float8[], w float8[], ptr bigint[], rowid bigint[],
                                             col bigint[], val float8[], OUT b bytea)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    part bytea;
BEGIN
    b := decode('324d4c47', 'hex') || blocks_fuzz.i4(n) || blocks_fuzz.i4(dim) || blocks_fuzz.i4(nnz)
         || blocks_fuzz.i4(entity) || blocks_fuzz.i4(flags) || blocks_fuzz.i4(entity_rows)
         || blocks_fuzz.i4(entity_nnz) || blocks_fuzz.i4(pad) || blocks_fuzz.i8(first_row)
         || blocks_fuzz.f8s(y) || blocks_fuzz.f8s(w);
    -- b is 4 bytes short of its varlena offset: pad (length + 4) to 8
    part := blocks_fuzz.i4s(ptr);
    b := b || part || decode(repeat('00', (8 - (length(b) + length(part) + 4) % 8) % 8), 'hex');
    IF rowid IS NOT NULL THEN
        part := blocks_fuzz.i4s(rowid);
        b := b || part || decode(repeat('00', (8 - (length(b) + length(part) + 4) % 8) % 8), 'hex');
    END IF;
    part := blocks_fuzz.u2s(col);
    b := b || part || decode(repeat('00', (8 - (length(b) + length(part) + 4) % 8) % 8), 'hex');
    IF val IS NOT NULL THEN
        b := b || blocks_fuzz.f8s(val);
    END IF;
END $$;

-- ---- valid inputs ----

-- a random valid block and the rows it holds (for the row-form oracle)
CREATE OR REPLACE FUNCTION blocks_fuzz.gen_block(fixed boolean,
    OUT b bytea, OUT dim int, OUT entity int, OUT nrows int,
    OUT y float8[], OUT w float8[], OUT ptr bigint[], OUT rowid bigint[], OUT col bigint[], OUT val float8[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := CASE WHEN random() < 0.05 THEN 0 WHEN random() < 0.8 THEN 1 + floor(random() * 10)::int
                  ELSE 1 + floor(random() * 60)::int END;
    bin boolean := random() < 0.5;
    contiguous boolean := random() < 0.6;
    first_row bigint := floor(random() * 40)::bigint;
    k int;
    cs bigint[];
    ids bigint[];
    flags int;
BEGIN
    dim := 1 + floor(random() * CASE WHEN random() < 0.8 THEN 12 ELSE 60 END)::int;
    entity := CASE WHEN fixed THEN -1 ELSE floor(random() * 6)::int END;
    y := '{}'; w := '{}'; ptr := '{0}'; col := '{}'; val := CASE WHEN bin THEN NULL ELSE '{}' END;
    ids := '{}';
    FOR r IN 0 .. n - 1 LOOP
        y := y || CASE WHEN random() < 0.1 THEN round(random()::numeric, 2)::float8
                       WHEN random() < 0.5 THEN 0 ELSE 1 END;
        w := w || CASE WHEN random() < 0.1 THEN 0 ELSE round((random() * 3)::numeric, 3)::float8 END;
        k := floor(random() * (least(dim, 8) + 1))::int;
        SELECT coalesce(array_agg(c ORDER BY c), '{}') INTO cs
          FROM (SELECT c FROM generate_series(0, dim - 1) c ORDER BY random() LIMIT k) q;
        col := col || cs;
        ptr := ptr || cardinality(col)::bigint;
        IF NOT bin THEN
            SELECT val || coalesce(array_agg(round((random() * 4 - 2)::numeric, 3)::float8), '{}')
              INTO val FROM generate_series(1, k);
        END IF;
        ids := ids || CASE WHEN contiguous OR r = 0 THEN first_row + r
                           ELSE floor(random() * 80)::bigint END;
    END LOOP;
    IF n = 0 THEN first_row := 0; END IF;
    flags := (CASE WHEN bin THEN 1 ELSE 0 END) | (CASE WHEN contiguous THEN 2 ELSE 0 END);
    rowid := ids;
    nrows := coalesce((SELECT max(x) FROM unnest(ids) x), 0)::int + 1 + floor(random() * 3)::int;
    b := blocks_fuzz.block(n, dim, cardinality(col), entity, flags,
                           CASE WHEN fixed THEN 0 ELSE n + floor(random() * 5)::int END,
                           CASE WHEN fixed THEN 0 ELSE cardinality(col) + floor(random() * 5)::int END,
                           0, first_row, y, w, ptr, CASE WHEN contiguous THEN NULL ELSE ids END, col, val);
END $$;

-- a valid serialized fixed-effect state (network byte order, as glmix_fixed_serial writes)
CREATE OR REPLACE FUNCTION blocks_fuzz.gen_fixed_state(OUT b bytea, OUT dim int)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    dim := 1 + floor(random() * 12)::int;
    b := int4send(x'474D4653'::int) || int4send(1) || int4send(dim)
         || int8send(floor(random() * 1000)::bigint) || float8send(random() * 100) || float8send(random() * 50);
    SELECT b || string_agg(float8send(random() * 2 - 1), ''::bytea)
      INTO b FROM generate_series(1, dim + dim * (dim + 1) / 2);
END $$;

-- a valid serialized per-entity state (as glmix_entity_serial writes)
CREATE OR REPLACE FUNCTION blocks_fuzz.gen_entity_state(OUT b bytea, OUT dim int)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := floor(random() * 8)::int;
    rows bytea := ''::bytea;
    nnz int := 0;
    k int;
BEGIN
    dim := 1 + floor(random() * 10)::int;
    FOR r IN 1 .. n LOOP
        k := floor(random() * (least(dim, 5) + 1))::int;
        rows := rows || float8send((random() < 0.5)::int::float8) || float8send(random() * 2)
                || float8send(random() - 0.5) || int4send(k);
        SELECT rows || coalesce(string_agg(int4send(c) || float8send(random() * 2 - 1), ''::bytea ORDER BY c), ''::bytea)
          INTO rows FROM (SELECT c FROM generate_series(0, dim - 1) c ORDER BY random() LIMIT k) q;
        nnz := nnz + k;
    END LOOP;
    b := int4send(x'474D4553'::int) || int4send(1) || int4send(dim)
         || int4send(floor(random() * 7)::int - 1) || int4send((random() < 0.5)::int)
         || int4send(n) || int4send(nnz) || float8send(0.1 + random() * 10);
    SELECT b || string_agg(float8send(random() - 0.5), ''::bytea) INTO b FROM generate_series(1, dim);
    b := b || rows;
END $$;

-- ---- mutations ----

CREATE OR REPLACE FUNCTION blocks_fuzz.pick_int(dim int, n int, len int) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT (ARRAY[0, -1, 1, 2, 2147483647, -2147483648, 65535, 65536, 32767, 8000, 8001,
                  dim, dim + 1, dim - 1, n, n + 1, n - 1, len, len / 2, 1000000, -2])
           [1 + floor(random() * 21)::int]::bigint
$$;

CREATE OR REPLACE FUNCTION blocks_fuzz.pick_double() RETURNS float8
LANGUAGE sql VOLATILE AS $$
    SELECT (ARRAY['NaN', 'Infinity', '-Infinity', '-1', '2', '1e308', '-1e308', '-0', '5e-324',
                  '0.5', '1', '0', '1e-300', '-5e-324']::float8[])[1 + floor(random() * 14)::int]
$$;

/*
 * One to three mutations of a block (big = false: host-endian block; true:
 * big-endian serialized state).  Field-aware choices aim at the header, the
 * row pointers, the columns and the doubles; blind ones flip bits and bytes,
 * truncate and extend.
 */
CREATE OR REPLACE FUNCTION blocks_fuzz.mutate(b bytea, big boolean, dim int) RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    len int;
    pos int;
    v bigint;
    n int := CASE WHEN big THEN 0 ELSE get_byte(b, 4) + 256 * get_byte(b, 5) END;
    nmut int := 1 + floor(random() * random() * 3)::int;
    m int;
BEGIN
    FOR i IN 1 .. nmut LOOP
        len := length(b);
        m := floor(random() * 10)::int;
        IF len = 0 THEN
            RETURN b || decode('324d4c47', 'hex');
        END IF;
        IF m = 0 THEN                                       -- a bit flip
            b := set_bit(b, floor(random() * len * 8)::int, 1 - get_bit(b, floor(random() * len * 8)::int));
        ELSIF m = 1 THEN                                    -- a byte
            b := set_byte(b, floor(random() * len)::int,
                          (ARRAY[0, 255, 127, 128, 1, floor(random() * 256)::int])[1 + floor(random() * 6)::int]);
        ELSIF m IN (2, 3) THEN                              -- a header field (int32 slots)
            pos := 4 * floor(random() * CASE WHEN big THEN 9 ELSE 11 END)::int;
            IF pos + 4 <= len THEN
                v := blocks_fuzz.pick_int(dim, n, len);
                b := overlay(b placing CASE WHEN big THEN int4send(v::int) ELSE blocks_fuzz.i4(v) END
                             from pos + 1 for 4);
            END IF;
        ELSIF m = 4 THEN                                    -- any aligned int32 (row pointers, row ids)
            pos := 4 * floor(random() * (len / 4))::int;
            IF pos + 4 <= len THEN
                v := blocks_fuzz.pick_int(dim, n, len);
                b := overlay(b placing CASE WHEN big THEN int4send(v::int) ELSE blocks_fuzz.i4(v) END
                             from pos + 1 for 4);
            END IF;
        ELSIF m = 5 THEN                                    -- a 16-bit column
            pos := 2 * floor(random() * (len / 2))::int;
            v := (ARRAY[0, dim - 1, dim, dim + 1, 65535, 32768])[1 + floor(random() * 6)::int];
            b := set_byte(set_byte(b, pos, (v & 255)::int), pos + 1, ((v >> 8) & 255)::int);
        ELSIF m = 6 THEN                                    -- a double
            pos := CASE WHEN big THEN 4 * floor(random() * (len / 4))::int
                        ELSE 44 + 8 * floor(random() * greatest((len - 44) / 8, 1))::int END;
            IF pos + 8 <= len THEN
                b := overlay(b placing CASE WHEN big THEN float8send(blocks_fuzz.pick_double())
                                            ELSE blocks_fuzz.f8(blocks_fuzz.pick_double()) END
                             from pos + 1 for 8);
            END IF;
        ELSIF m = 7 THEN                                    -- truncation
            b := substr(b, 1, floor(random() * len)::int);
        ELSIF m = 8 THEN                                    -- extension
            b := b || CASE WHEN random() < 0.5 THEN decode('0000000000000000', 'hex')
                           ELSE decode(md5(random()::text), 'hex') END;
        ELSE                                                -- a 16-bit slot anywhere: counts, columns
            pos := floor(random() * (len - 1))::int;
            v := blocks_fuzz.pick_int(dim, n, len);
            b := set_byte(set_byte(b, pos, (v & 255)::int), pos + 1, ((v >> 8) & 255)::int);
        END IF;
    END LOOP;
    RETURN b;
END $$;

-- a float8[] of length len: mostly small numbers, sometimes a hostile value
CREATE OR REPLACE FUNCTION blocks_fuzz.vec(len int, hostile float8) RETURNS float8[]
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(array_agg(CASE WHEN random() < hostile THEN blocks_fuzz.pick_double()
                                   ELSE round((random() - 0.5)::numeric, 3)::float8 END), '{}')
      FROM generate_series(1, greatest(len, 0))
$$;

-- ---- the fuzzer ----
-- kinds: 0-1 glmix_fixed_block_stats, 2-3 glmix_entity_fit (block form),
-- 4-5 serialized states through deserial and the final functions, 6-7 the
-- row forms with hostile arrays, 8 support functions outside an aggregate

CREATE OR REPLACE FUNCTION blocks_fuzz.run(seed float8, cases int,
    OUT tried int, OUT accepted int, OUT clean_errors int, OUT findings int, OUT finding_text text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fb bytea[]; fdim int[]; fn int[];                  -- valid fixed-effect blocks
    eb bytea[]; edim int[]; een int[]; enr int[];      -- valid entity blocks
    fs bytea[]; fsd int[];                             -- valid serialized fixed states
    es bytea[]; esd int[];                             -- valid serialized entity states
    g record;
    b bytea;
    b2 bytea;
    d int;
    kind int;
    mutated boolean;
    st text;
    msg text;
    res float8[];
    rb bytea;
    npool int := 24;
    off float8[];
    coef float8[];
    start float8[];
    l2 float8;
    i int;
BEGIN
    PERFORM setseed(seed);
    tried := 0; accepted := 0; clean_errors := 0; findings := 0; finding_text := '';
    -- the pools, each checked: accepted, and (blocks) equal to the row form
    FOR p IN 1 .. npool LOOP
        g := blocks_fuzz.gen_block(true);
        fb[p] := g.b; fdim[p] := g.dim; fn[p] := g.nrows;
        off := blocks_fuzz.vec(g.nrows, 0);
        coef := blocks_fuzz.vec(g.dim, 0);
        tried := tried + 1;
        BEGIN
            res := recs.glmix_fixed_block_stats(g.b, off, coef);
            IF cardinality(g.y) > 0 AND abs(res[3] -
                (SELECT (recs.glmix_fixed_stats(g.y[r], g.w[r], off[g.rowid[r] + 1],
                                                (SELECT array_agg((c + 1)::int) FROM unnest(g.col[g.ptr[r] + 1 : g.ptr[r + 1]]) c),
                                                g.val[g.ptr[r] + 1 : g.ptr[r + 1]], coef)).loss
                   FROM generate_series(1, cardinality(g.y)) r)) > 1e-9 THEN
                findings := findings + 1;
                finding_text := finding_text || format('valid fixed block differs from the row form: %s; ', g.b);
            ELSE
                accepted := accepted + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            findings := findings + 1;
            finding_text := finding_text || format('valid fixed block rejected (%s %s): %s; ', st, msg, g.b);
        END;
        g := blocks_fuzz.gen_block(false);
        eb[p] := g.b; edim[p] := g.dim; een[p] := g.entity; enr[p] := g.nrows;
        tried := tried + 1;
        BEGIN
            res := recs.glmix_entity_fit(g.b, blocks_fuzz.vec(g.nrows, 0), blocks_fuzz.vec((g.entity + 1) * g.dim, 0), 1.0);
            IF cardinality(g.y) > 0 AND cardinality(res) <> g.dim THEN
                RAISE EXCEPTION 'a fit of % values', cardinality(res) USING ERRCODE = 'XX000';
            END IF;
            accepted := accepted + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            findings := findings + 1;
            finding_text := finding_text || format('valid entity block rejected (%s %s): %s; ', st, msg, g.b);
        END;
        g := blocks_fuzz.gen_fixed_state();
        fs[p] := g.b; fsd[p] := g.dim;
        tried := tried + 1;
        BEGIN
            rb := blocks_fuzz.fixed_serial(blocks_fuzz.fixed_deserial(g.b));
            IF rb IS DISTINCT FROM g.b THEN
                RAISE EXCEPTION 'round trip changed the state' USING ERRCODE = 'XX000';
            END IF;
            accepted := accepted + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            findings := findings + 1;
            finding_text := finding_text || format('valid fixed state rejected (%s %s): %s; ', st, msg, g.b);
        END;
        g := blocks_fuzz.gen_entity_state();
        es[p] := g.b; esd[p] := g.dim;
        tried := tried + 1;
        BEGIN
            rb := blocks_fuzz.entity_serial(blocks_fuzz.entity_deserial(g.b));
            IF rb IS DISTINCT FROM g.b THEN
                RAISE EXCEPTION 'round trip changed the state' USING ERRCODE = 'XX000';
            END IF;
            accepted := accepted + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            findings := findings + 1;
            finding_text := finding_text || format('valid entity state rejected (%s %s): %s; ', st, msg, g.b);
        END;
    END LOOP;

    WHILE tried < cases LOOP
        tried := tried + 1;
        i := 1 + floor(random() * npool)::int;
        kind := floor(random() * 9)::int;
        mutated := random() < 0.9;
        BEGIN
            IF kind IN (0, 1) THEN              -- the fixed block aggregate
                d := fdim[i];
                b := CASE WHEN random() < 0.02 THEN NULL
                          WHEN mutated THEN blocks_fuzz.mutate(fb[i], false, d) ELSE fb[i] END;
                off := CASE WHEN random() < 0.9 THEN blocks_fuzz.vec(fn[i], 0.02)
                            WHEN random() < 0.5 THEN NULL ELSE blocks_fuzz.vec(floor(random() * 4)::int, 0.2) END;
                coef := blocks_fuzz.vec(CASE WHEN random() < 0.9 THEN d
                                             ELSE (ARRAY[0, d + 1, 8193, 1])[1 + floor(random() * 4)::int] END, 0.02);
                IF random() < 0.15 THEN         -- two blocks, possibly of different dimensions
                    b2 := blocks_fuzz.mutate(fb[1 + floor(random() * npool)::int], false, d);
                    mutated := true;
                    PERFORM recs.glmix_fixed_block_stats(x, off, coef) FROM unnest(ARRAY[b, b2]) x;
                ELSE
                    PERFORM recs.glmix_fixed_block_stats(b, off, coef);
                END IF;
            ELSIF kind IN (2, 3) THEN           -- the entity block aggregate
                d := edim[i];
                b := CASE WHEN random() < 0.02 THEN NULL
                          WHEN mutated THEN blocks_fuzz.mutate(eb[i], false, d) ELSE eb[i] END;
                off := CASE WHEN random() < 0.9 THEN blocks_fuzz.vec(enr[i], 0.02) ELSE NULL END;
                start := CASE WHEN random() < 0.1 THEN NULL
                              ELSE blocks_fuzz.vec((een[i] + 1) * d - (random() < 0.1)::int, 0.02) END;
                l2 := CASE WHEN random() < 0.9 THEN 1.0 ELSE blocks_fuzz.pick_double() END;
                IF random() < 0.15 THEN
                    b2 := blocks_fuzz.mutate(eb[1 + floor(random() * npool)::int], false, d);
                    mutated := true;
                    PERFORM recs.glmix_entity_fit(x, off, start, l2) FROM unnest(ARRAY[b, b2]) x;
                ELSE
                    PERFORM recs.glmix_entity_fit(b, off, start, l2);
                END IF;
            ELSIF kind = 4 THEN                 -- a serialized fixed-effect state
                b := CASE WHEN mutated THEN blocks_fuzz.mutate(fs[i], true, fsd[i]) ELSE fs[i] END;
                PERFORM blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(b)),
                        blocks_fuzz.fixed_final(blocks_fuzz.fixed_deserial(b));
            ELSIF kind = 5 THEN                 -- a serialized per-entity state: the fit runs
                b := CASE WHEN mutated THEN blocks_fuzz.mutate(es[i], true, esd[i]) ELSE es[i] END;
                PERFORM blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(b));
            ELSIF kind = 6 THEN                 -- the fixed row form with hostile arrays
                d := 1 + floor(random() * 6)::int;
                PERFORM recs.glmix_fixed_stats(
                    CASE WHEN random() < 0.9 THEN (random() < 0.5)::int::float8 ELSE blocks_fuzz.pick_double() END,
                    CASE WHEN random() < 0.9 THEN 1 ELSE blocks_fuzz.pick_double() END,
                    CASE WHEN random() < 0.9 THEN 0 ELSE blocks_fuzz.pick_double() END,
                    ARRAY[1 + floor(random() * d)::int, CASE WHEN random() < 0.8 THEN 1 + floor(random() * d)::int
                                                             ELSE blocks_fuzz.pick_int(d, 1, 1)::int END],
                    CASE WHEN random() < 0.3 THEN NULL ELSE blocks_fuzz.vec(CASE WHEN random() < 0.9 THEN 2 ELSE 3 END, 0.1) END,
                    blocks_fuzz.vec(CASE WHEN random() < 0.95 THEN d ELSE 0 END, 0.02))
                  FROM generate_series(1, 3);
            ELSIF kind = 7 THEN                 -- the entity row form with hostile dim and l2
                d := CASE WHEN random() < 0.9 THEN 1 + floor(random() * 6)::int ELSE blocks_fuzz.pick_int(3, 1, 1)::int END;
                PERFORM recs.glmix_entity_fit(
                    CASE WHEN random() < 0.9 THEN (g2 % 2)::float8 ELSE blocks_fuzz.pick_double() END,
                    CASE WHEN random() < 0.9 THEN 1 ELSE blocks_fuzz.pick_double() END,
                    CASE WHEN random() < 0.9 THEN 0 ELSE blocks_fuzz.pick_double() END,
                    ARRAY[1 + floor(random() * greatest(least(d, 6), 1))::int, blocks_fuzz.pick_int(d, 1, 1)::int],
                    CASE WHEN random() < 0.5 THEN NULL ELSE blocks_fuzz.vec(2, 0.1) END,
                    CASE WHEN g2 = 2 AND random() < 0.1 THEN d + 1 ELSE d END,
                    CASE WHEN random() < 0.9 THEN 1 ELSE blocks_fuzz.pick_double() END)
                  FROM generate_series(1, 3) g2;
            ELSE                                -- support functions outside an aggregate
                PERFORM CASE floor(random() * 6)::int
                    WHEN 0 THEN blocks_fuzz.fixed_combine(NULL, NULL) IS NULL
                    WHEN 1 THEN blocks_fuzz.entity_combine(NULL, NULL) IS NULL
                    WHEN 2 THEN blocks_fuzz.fixed_block_accum(NULL, fb[i], NULL, '{0}') IS NULL
                    WHEN 3 THEN blocks_fuzz.entity_block_accum(NULL, eb[i], NULL, NULL, 1) IS NULL
                    WHEN 4 THEN blocks_fuzz.fixed_combine(blocks_fuzz.fixed_deserial(fs[i]), NULL) IS NULL
                    ELSE blocks_fuzz.entity_final(NULL) IS NULL END;
            END IF;
            accepted := accepted + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            -- an unmutated valid block or state must not be called corrupt
            IF blocks_fuzz.clean(st) AND (mutated OR kind >= 6 OR st <> 'XX001') THEN
                clean_errors := clean_errors + 1;
            ELSE
                findings := findings + 1;
                IF length(finding_text) < 4000 THEN
                    finding_text := finding_text || format('kind %s (%s %s): %s; ', kind, st, msg, b);
                END IF;
            END IF;
        END;
    END LOOP;
END $$;
