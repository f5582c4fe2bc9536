-- test/pgtap/hostile_blocks.sql -- the GLMix aggregates against hand-made
-- input: the crash of the security report (a block whose row pointers run past
-- nnz), then one case per validation of glmix_block_map, of the aggregates'
-- ordinary arguments, of the row forms and of the deserial functions.  Each
-- corrupt block is checked for its SQLSTATE (throws_ok) and for the errdetail
-- of the check that must fire, so a check that goes missing fails here even
-- when a later one still catches the block.  Blocks are built byte by byte by
-- blocks_fuzz.block() from test/fuzz/blocks.sql (layout in src/glmix/glmix.h).
BEGIN;
SELECT plan(154);
SET LOCAL client_min_messages = warning;
\ir ../fuzz/blocks.sql

CREATE SCHEMA hb;
-- the errdetail (or, without one, the message) of the error a statement raises
CREATE FUNCTION hb.detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
    m text;
BEGIN
    EXECUTE sql;
    RETURN '(no error)';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, m = MESSAGE_TEXT;
    RETURN coalesce(nullif(d, ''), m);
END $$;
-- a corrupt block or state: its SQLSTATE and message, and the check that fired
CREATE FUNCTION hb.corrupt(sql text, msg text, detail_re text, what text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT throws_ok(sql, 'XX001', msg, what);
    RETURN NEXT matches(hb.detail(sql), detail_re, what || ': the check that fires');
END $$;
-- blocks through both block aggregates (fixed: zero coefficients of its dimension)
CREATE FUNCTION hb.fixed(b bytea, dim int DEFAULT 3) RETURNS float8[] LANGUAGE sql AS $$
    SELECT recs.glmix_fixed_block_stats(b, NULL, array_fill(0::float8, ARRAY[dim]))
$$;
CREATE FUNCTION hb.entity(b bytea) RETURNS float8[] LANGUAGE sql AS $$
    SELECT recs.glmix_entity_fit(b, NULL, NULL, 1.0)
$$;
-- the base block: 2 rows of dimension 3, features {0,2} and {1}, binary and
-- contiguous, and variants with one header field or part replaced
CREATE FUNCTION hb.blk(n int = 2, dim int = 3, nnz int = 3, entity int = -1, flags int = 3,
                       erows int = 0, ennz int = 0, pad int = 0, first_row bigint = 0,
                       y float8[] = '{1,0}', w float8[] = '{1,2}', ptr bigint[] = '{0,2,3}',
                       rowid bigint[] = NULL, col bigint[] = '{0,2,1}', val float8[] = NULL)
RETURNS bytea LANGUAGE sql AS $$
    SELECT blocks_fuzz.block(n, dim, nnz, entity, flags, erows, ennz, pad, first_row,
                             y, w, ptr, rowid, col, val)
$$;

-- ---------------------------------------------------------------------------
-- The reported crash: magic 2MLG, 2 rows, ptr = {0, 65000, 13000}
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE repro AS SELECT hb.blk(nnz => 13000, ptr => '{0,65000,13000}',
                                        col => array_fill(0::bigint, ARRAY[13000])) AS b;
SELECT * FROM hb.corrupt($$SELECT hb.fixed(b) FROM repro$$, 'invalid glmix block',
                         'at most 8000 bytes', 'the reported block: glmix_fixed_block_stats');
SELECT * FROM hb.corrupt($$SELECT recs.glmix_entity_fit(b, NULL, NULL, 1) FROM repro$$, 'invalid glmix block',
                         'at most 8000 bytes', 'the reported block: glmix_entity_fit');
-- the same pointers in a block small enough to pass the length check
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(ptr => '{0,65000,3}'))$$, 'invalid glmix block',
                         '^Row pointer 1 is 65000 after 0', 'a pointer past nnz: glmix_fixed_block_stats');
SELECT * FROM hb.corrupt($$SELECT hb.entity(hb.blk(entity => 0, erows => 2, ennz => 3, ptr => '{0,65000,3}'))$$,
                         'invalid glmix block', '^Row pointer 1 is 65000 after 0',
                         'a pointer past nnz: glmix_entity_fit');
SELECT ok(pg_backend_pid() IS NOT NULL, 'the session survived');

-- ---------------------------------------------------------------------------
-- Valid blocks are accepted and mean what the row form means
-- ---------------------------------------------------------------------------
SELECT is((SELECT recs.glmix_fixed_block_stats(hb.blk(), '{0.5,-0.25}', '{0.1,-0.2,0.3}'))[1:6],
          (SELECT ARRAY[rows, weight, loss] || gradient FROM (
             SELECT (recs.glmix_fixed_stats(y, w, o, f, NULL, '{0.1,-0.2,0.3}')).*
               FROM (VALUES (1::float8, 1::float8, 0.5::float8, '{1,3}'::int[]),
                            (0, 2, -0.25, '{2}')) v(y, w, o, f)) s),
          'a valid block: rows, weight, loss and gradient equal the row form''s');
SELECT is(cardinality(recs.glmix_entity_fit(
              hb.blk(entity => 1, flags => 0, erows => 2, ennz => 3, first_row => 4, rowid => '{4,0}',
                     val => '{0.5,-1,2}'), '{0,0.1,0,0,0.2}', '{0,0,0,0.1,0.2,0.3}', 1.0)), 3,
          'a valid entity block with values and row ids: a fit of its dimension');
SELECT lives_ok($$SELECT hb.fixed(hb.blk(n => 0, nnz => 0, ptr => '{0}', y => '{}', w => '{}', col => '{}'))$$,
                'a block of no rows is valid');

-- ---------------------------------------------------------------------------
-- glmix_block_map: the header, before any size is computed from it
-- ---------------------------------------------------------------------------
SELECT * FROM hb.corrupt($$SELECT hb.fixed('\x324d4c47'::bytea)$$, 'invalid glmix block',
                         'shorter than a block header', 'a bytea shorter than the header');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(overlay(hb.blk() placing '\x00' from 1 for 1))$$, 'invalid glmix block',
                         'magic number', 'a wrong magic number');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(flags => 8))$$, 'invalid glmix block',
                         '^Unknown flags 0x8', 'an unknown flag');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(pad => 1))$$, 'invalid glmix block',
                         'padding 1', 'nonzero padding');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(dim => 0))$$, 'invalid glmix block',
                         '^The dimension 0 is outside', 'dimension 0');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(dim => 65536))$$, 'invalid glmix block',
                         'do not match the dimension 65536', 'dimension 65536 with 16-bit columns');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(n => -1))$$, 'invalid glmix block',
                         '^The row count -1 ', 'a negative row count');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(n => 1000))$$, 'invalid glmix block',
                         '^The row count 1000 does not fit', 'more rows than the bytes can hold');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(nnz => -1))$$, 'invalid glmix block',
                         '^The feature count -1 ', 'a negative feature count');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(n => 1, dim => 1, nnz => 2, y => '{1}', w => '{1}', ptr => '{0,2}',
                                                  col => '{0,0}'), 1)$$, 'invalid glmix block',
                         '^The feature count 2 does not fit 1 rows of dimension 1', 'more features than rows x dim');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(entity => -2))$$, 'invalid glmix block',
                         '^Entity -2 ', 'entity -2');
SELECT * FROM hb.corrupt($$SELECT hb.entity(hb.blk(entity => 0, erows => 1, ennz => 3))$$, 'invalid glmix block',
                         '^Entity 0 with hints of 1 rows', 'a row hint smaller than the block');
SELECT * FROM hb.corrupt($$SELECT hb.entity(hb.blk(entity => 0, erows => 2, ennz => -5))$$, 'invalid glmix block',
                         '^Entity 0 with hints of 2 rows and -5 features', 'a negative feature hint');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(first_row => -1))$$, 'invalid glmix block',
                         '^The first row -1 ', 'a negative first row');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(first_row => 2147483647))$$, 'invalid glmix block',
                         '^The first row 2147483647 ', 'first_row + n past int32');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk() || '\x0000000000000000'::bytea)$$, 'invalid glmix block',
                         '^The block is [0-9]+ bytes; its header says', 'a block longer than its header says');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(substr(hb.blk(), 1, 70))$$, 'invalid glmix block',
                         '^The block is [0-9]+ bytes; its header says', 'a truncated block');

-- ---------------------------------------------------------------------------
-- glmix_block_map: every row pointer, before any column is read
-- ---------------------------------------------------------------------------
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(ptr => '{1,2,3}'))$$, 'invalid glmix block',
                         '^The first row pointer is 1', 'ptr[0] is not 0');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(ptr => '{0,3,2}'))$$, 'invalid glmix block',
                         '^Row pointer 2 is 2 after 3', 'descending row pointers');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(ptr => '{0,-1,3}'))$$, 'invalid glmix block',
                         '^Row pointer 1 is -1 after 0', 'a negative row pointer');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(ptr => '{0,1,2}'))$$, 'invalid glmix block',
                         '^The last row pointer is 2, not the feature count 3', 'ptr[n] is not nnz');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(dim => 2, ptr => '{0,3,3}', col => '{0,1,1}'), 2)$$,
                         'invalid glmix block', 'at most 2 apart', 'a row with more features than the dimension');

-- ---------------------------------------------------------------------------
-- glmix_block_map: labels, weights, row ids, columns, values
-- ---------------------------------------------------------------------------
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(y => '{1,1.5}'))$$, 'invalid glmix block',
                         '^Row 1 has label 1.5 ', 'a label above 1');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(y => '{NaN,0}'))$$, 'invalid glmix block',
                         '^Row 0 has label NaN ', 'a NaN label');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(w => '{1,-1}'))$$, 'invalid glmix block',
                         '^Row 1 has label 0 and weight -1', 'a negative weight');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(w => '{Infinity,1}'))$$, 'invalid glmix block',
                         'weight Infinity', 'an infinite weight');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(w => '{1,NaN}'))$$, 'invalid glmix block',
                         'weight NaN', 'a NaN weight');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(flags => 1, rowid => '{0,-1}'))$$, 'invalid glmix block',
                         '^Row 1 has the negative row id -1', 'a negative row id');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(flags => 1, rowid => '{5,1}'))$$, 'invalid glmix block',
                         '^The first row id 5 is not the header''s first row 0', 'row ids that disagree with first_row');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(col => '{0,3,1}'))$$, 'invalid glmix block',
                         '^Row 0 has feature index 3 after 0', 'a feature index at the dimension');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(col => '{2,2,1}'))$$, 'invalid glmix block',
                         '^Row 0 has feature index 2 after 2', 'a repeated feature index');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(col => '{2,0,1}'))$$, 'invalid glmix block',
                         '^Row 0 has feature index 0 after 2', 'descending feature indexes');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(flags => 2, val => '{1,NaN,1}'))$$, 'invalid glmix block',
                         '^Feature value 1 is not finite', 'a NaN feature value');
SELECT * FROM hb.corrupt($$SELECT hb.fixed(hb.blk(flags => 2, val => '{1,1,-Infinity}'))$$, 'invalid glmix block',
                         '^Feature value 2 is not finite', 'an infinite feature value');

-- ---------------------------------------------------------------------------
-- The block aggregates' other arguments
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(first_row => 5), '{0,0,0,0,0,0}', '{0,0,0}')$$,
                 '2202E', 'block row 6 is beyond the 6 offsets given', 'a row id beyond the offsets');
-- an offsets or start array keeps its subscripts: a slice serves its rows as the whole would
SELECT is(recs.glmix_fixed_block_stats(hb.blk(first_row => 5), '[6:7]={0.5,-0.25}', '{0.1,0.2,0.3}'),
          recs.glmix_fixed_block_stats(hb.blk(first_row => 5), '{9,9,9,9,9,0.5,-0.25}', '{0.1,0.2,0.3}'),
          'a slice of the offsets with its subscripts ([6:7], rows 5 and 6) is the whole array''s');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(first_row => 5), '{0.5,-0.25}', '{0,0,0}')$$,
                 '2202E', 'block row 5 is beyond the 2 offsets given',
                 'the same values from subscript 1 stand for rows 0 and 1');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(first_row => 5), '[7:8]={0.5,-0.25}', '{0,0,0}')$$,
                 '2202E', 'block row 5 is outside the offsets given, rows 6 to 7',
                 'a slice that misses a row of the block');
SELECT is(recs.glmix_entity_fit(hb.blk(entity => 1, erows => 2, ennz => 3), NULL, '[4:6]={0.1,0.2,0.3}', 1),
          recs.glmix_entity_fit(hb.blk(entity => 1, erows => 2, ennz => 3), NULL, '{7,7,7,0.1,0.2,0.3}', 1),
          'an entity''s starting coefficients as a slice ([4:6] for entity 1 of dimension 3)');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(entity => 1, erows => 2, ennz => 3), NULL, '[5:7]={0,0,0}', 1)$$,
                 '2202E', 'no starting coefficients for entity 1', 'a start slice that misses the entity');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), '{0,NaN}', '{0,0,0}')$$,
                 '22023', 'offset 2 is not finite', 'a NaN offset of one of the block''s rows');
SELECT lives_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), '{0,0,NaN}', '{0,0,0}')$$,
                'a NaN offset of a row not in the block is not read');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), NULL, '{0,NaN,0}')$$,
                 '22023', 'coefficients must be finite', 'NaN coefficients');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), NULL, '{}')$$,
                 '22023', 'the coefficient vector must not be empty', 'empty coefficients');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), NULL, array_fill(0::float8, ARRAY[8193]))$$,
                 '54000', NULL, 'more coefficients than a dense Hessian allows');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), NULL, '{0,0}')$$,
                 '22023', 'block of dimension 3 with 2 coefficients', 'coefficients of another dimension');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(hb.blk(), NULL, NULL)$$,
                 '22004', 'coefficients must not be NULL', 'NULL coefficients');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(entity => 1, erows => 2, ennz => 3), NULL, '{0,0,0,0,0}', 1)$$,
                 '2202E', 'no starting coefficients for entity 1', 'a start array too short for the entity');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(), NULL, '{0,0,0}', 1)$$,
                 '2202E', 'no starting coefficients for entity -1', 'start for a block without an entity');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(entity => 0, erows => 2, ennz => 3), NULL, '{0,Infinity,0}', 1)$$,
                 '22023', 'starting coefficients must be finite', 'an infinite starting coefficient');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(), NULL, NULL, 0)$$,
                 '22023', NULL, 'an L2 weight of 0');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(), NULL, NULL, 'NaN')$$,
                 '22023', NULL, 'a NaN L2 weight');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(), NULL, NULL, 'Infinity')$$,
                 '22023', NULL, 'an infinite L2 weight');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(), NULL, NULL, NULL)$$,
                 '22004', 'l2 must not be NULL', 'a NULL L2 weight');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(hb.blk(dim => 2000), NULL, NULL, 1)$$,
                 '54000', 'per-entity dimension 2000 is outside 1..1024', 'a block too wide for a per-entity fit');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(b, NULL, NULL, 1)
                     FROM (VALUES (hb.blk(entity => 0, erows => 2, ennz => 3)),
                                  (hb.blk(entity => 1, erows => 2, ennz => 3))) v(b)$$,
                 '22023', NULL, 'blocks of two entities in one group');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats(b, NULL, '{0,0,0}')
                     FROM (VALUES (hb.blk()), (hb.blk(dim => 4))) v(b)$$,
                 '22023', 'block of dimension 4 with 3 coefficients', 'blocks of two dimensions in one aggregate');
SELECT is(recs.glmix_entity_fit(NULL::bytea, NULL, NULL, 1), NULL, 'a NULL block alone: no fit, no crash');
SELECT is((SELECT recs.glmix_entity_fit(b, NULL, NULL, 1) IS NOT NULL FROM (VALUES (NULL::bytea), (hb.blk())) v(b)), true,
          'a NULL block before a valid one is skipped');
SELECT is((SELECT hb.entity(hb.blk(entity => 0, erows => 2000000000, ennz => 2000000000)) IS NOT NULL), true,
          'huge size hints reserve a bounded amount and the fit runs');

-- ---------------------------------------------------------------------------
-- The row forms
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, 1, 0, '{1,1}', '{1e308,1e308}', '{0}')$$,
                 '22003', 'the values of repeated feature index 1 add up to Infinity', 'repeated indexes whose values overflow');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, 1, 0, '{2}', NULL, '{0}')$$,
                 '2202E', 'feature index 2 is outside 1..1', 'a feature index beyond dim');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, 1, 0, '{0}', NULL, '{0}')$$,
                 '2202E', 'feature index 0 is outside 1..1', 'feature index 0');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats('NaN', 1, 0, NULL, NULL, '{0}')$$,
                 '22023', 'label must be between 0 and 1, not NaN', 'a NaN label');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, '-Infinity', 0, NULL, NULL, '{0}')$$,
                 '22023', 'weight must be a finite number >= 0, not -Infinity', 'an infinite weight');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, 1, 'Infinity', NULL, NULL, '{0}')$$,
                 '22023', 'offset must be finite', 'an infinite offset');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(1, 1, 0, '{1}', '{NaN}', '{0}')$$,
                 '22023', 'feature values must be finite', 'a NaN feature value');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(1, 1, 0, '{1}', NULL, 0, 1)$$,
                 '54000', 'per-entity dimension 0 is outside 1..1024', 'dim 0');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(1, 1, 0, '{1}', NULL, 2147483647, 1)$$,
                 '54000', NULL, 'dim INT_MAX');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(1, 1, 0, '{1}', NULL, 2, '-1')$$,
                 '22023', NULL, 'a negative L2 weight');
SELECT throws_ok($$SELECT recs.glmix_entity_fit(1, 1, 0, '{1}', NULL, d, 1) FROM (VALUES (2), (3)) v(d)$$,
                 '22023', NULL, 'two dimensions in one group');

-- ---------------------------------------------------------------------------
-- Serialized states.  SQL cannot call a deserial function: it takes internal,
-- and no SQL value has that type.  blocks.sql's int8 aliases of the same C
-- functions hand them bytes.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT recs._glmix_fixed_deserial('\x474d4653'::bytea, NULL)$$, '42883', NULL,
                 'recs._glmix_fixed_deserial cannot be called from SQL');
SELECT throws_ok($$SELECT recs._glmix_entity_deserial('\x474d4553'::bytea, NULL)$$, '42883', NULL,
                 'recs._glmix_entity_deserial cannot be called from SQL');
SELECT throws_ok($$SELECT recs._glmix_fixed_combine(NULL, NULL)$$, '42883', NULL,
                 'recs._glmix_fixed_combine cannot be called from SQL');
-- a fixed state of dimension 1: n 2, weight 3, loss 0.5, gradient {0.1}, Hessian {0.2}
CREATE TEMP TABLE fs AS
SELECT int4send(x'474D4653'::int) || int4send(1) || int4send(1) || int8send(2) || float8send(3)
       || float8send(0.5) || float8send(0.1) || float8send(0.2) AS s;
-- an entity state: dim 2, entity 0, warm {0.1, 0.2}, lambda 1, one row y 1 w 1 o 0 with feature 1 = 1
CREATE TEMP TABLE es AS
SELECT int4send(x'474D4553'::int) || int4send(1) || int4send(2) || int4send(0) || int4send(1)
       || int4send(1) || int4send(1) || float8send(1) || float8send(0.1) || float8send(0.2)
       || float8send(1) || float8send(1) || float8send(0) || int4send(1) || int4send(1) || float8send(1) AS s;
SELECT is((SELECT blocks_fuzz.fixed_serial(blocks_fuzz.fixed_deserial(s)) FROM fs), (SELECT s FROM fs),
          'a valid fixed state survives deserial and serial unchanged');
SELECT is((SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(s)) FROM fs), '{2,3,0.5,0.1,0.2}'::float8[],
          'a valid fixed state: its sums');
SELECT is((SELECT blocks_fuzz.entity_serial(blocks_fuzz.entity_deserial(s)) FROM es), (SELECT s FROM es),
          'a valid entity state survives deserial and serial unchanged');
SELECT is((SELECT cardinality(blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(s))) FROM es), 2,
          'a valid entity state: the fit runs');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(overlay(s placing int4send(2) from 5))) FROM fs$$,
                         'invalid serialized glmix fixed-effect state', 'Bad magic number or version', 'fixed state: version 2');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(overlay(s placing int4send(8192) from 9))) FROM fs$$,
                         'invalid serialized glmix fixed-effect state', '^Length 52 does not match dimension 8192',
                         'fixed state: a dimension its length does not hold');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(s || '\x00'::bytea)) FROM fs$$,
                         'invalid serialized glmix fixed-effect state', '^Length 53 ', 'fixed state: one byte too many');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(overlay(s placing int8send(-1) from 13))) FROM fs$$,
                         'invalid serialized glmix fixed-effect state', '^Row count -1 ', 'fixed state: a negative row count');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.fixed_block_final(blocks_fuzz.fixed_deserial(overlay(s placing float8send('NaN') from 21))) FROM fs$$,
                         'invalid serialized glmix fixed-effect state', 'weight NaN', 'fixed state: a NaN weight');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing float8send(0) from 29))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^L2 weight 0,', 'entity state: an L2 weight of 0');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(-2) from 13))) FROM es$$,
                         'invalid serialized glmix per-entity state', 'entity -2', 'entity state: entity -2');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(2) from 17))) FROM es$$,
                         'invalid serialized glmix per-entity state', 'warm-start flag 2', 'entity state: a warm-start flag of 2');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing float8send('NaN') from 37))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^Starting coefficient 1 is not finite',
                         'entity state: a NaN starting coefficient');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing float8send(2) from 53))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^Row 0 has label 2,', 'entity state: a label of 2');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(2) from 81))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^Row 0 has feature 2 ', 'entity state: a feature index at dim');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(3) from 77))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^Row 0 claims 3 features', 'entity state: a row with more features than dim');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(0) from 77))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^The rows hold 0 features, the header says 1',
                         'entity state: rows that hold fewer features than the header');
SELECT * FROM hb.corrupt($$SELECT blocks_fuzz.entity_final(blocks_fuzz.entity_deserial(overlay(s placing int4send(2000) from 9))) FROM es$$,
                         'invalid serialized glmix per-entity state', '^Length 92 does not match', 'entity state: dimension 2000');
-- the support functions outside an aggregate (through the aliases): a clean error
SELECT throws_ok($$SELECT blocks_fuzz.fixed_combine(NULL, NULL)$$, '0A000', NULL,
                 'the fixed combine function outside an aggregate');
SELECT throws_ok($$SELECT blocks_fuzz.entity_block_accum(NULL, hb.blk(), NULL, NULL, 1)$$, '0A000', NULL,
                 'the entity transition function outside an aggregate');

SELECT * FROM finish();
ROLLBACK;
