-- the code interpreter
SELECT sandbox_create('code-interpreter-v1') AS id \gset
SELECT r->>'text' AS text, r->>'stdout' AS stdout, r->'error' AS error
  FROM sandbox_run_code(:'id', 'import math; math.pi') AS r;
SELECT r->>'stdout' AS stdout, r->>'text' AS text
  FROM sandbox_run_code(:'id', 'print("hello"); x = 41') AS r;
-- state persists between executions
SELECT r->>'text' AS text FROM sandbox_run_code(:'id', 'x + 1') AS r;
-- an exception is data, not an SQL error
SELECT r->'error'->>'name' AS name, r->'error'->>'value' AS value,
       r->'error'->>'traceback' LIKE '%ZeroDivisionError%' AS has_traceback
  FROM sandbox_run_code(:'id', '1/0') AS r;
SELECT jsonb_array_length(r->'results') AS results, r->'results'->0->>'is_main_result' AS main
  FROM sandbox_run_code(:'id', '[1, 2, 3]') AS r;
-- a template without a code interpreter answers clearly
SELECT sandbox_create('base') AS base_id \gset
SELECT * FROM test_error(format('SELECT sandbox_run_code(%L, %L)', :'base_id', '1'));
SELECT sandbox_kill(:'base_id');
SELECT sandbox_kill(:'id');
