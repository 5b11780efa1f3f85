-- json and jsonb columns: input checking, jsonb's canonical form, the
-- operators and functions, and DML on the fast path and the general path.
CREATE TABLE docs (id int PRIMARY KEY, body jsonb, raw json);
INSERT INTO docs VALUES
  (1, '{"name": "ada", "tags": ["x", "y"], "age": 36, "name": "Ada", "addr": {"city": "London", "zip": null}}',
      '{"name": "ada",  "name": "Ada"}'),
  (2, '[1e2, 1.50e1, -0, "\u0041\t", true, null]', ' [1 , 2] '),
  (3, '"just a string"', '3.0'),
  (4, NULL, NULL);
SELECT id, body, raw FROM docs ORDER BY id;
-- Field and element access, in the argument's type.
SELECT id, body -> 'name' AS name, body ->> 'name' AS name_text, body -> 'tags' -> 1 AS tag,
       body -> 'addr' ->> 'zip' AS zip, raw -> 'name' AS raw_name
FROM docs ORDER BY id;
SELECT body -> 0, body -> -1, body ->> 3, body -> 'x', raw -> 1 FROM docs WHERE id = 2;
SELECT body #> '{addr,city}', body #>> '{tags,0}', body #> '{tags,9}', body #> ARRAY['addr'] FROM docs WHERE id = 1;
-- Subscripts (PostgreSQL 14+), as SQLAlchemy 2 writes column['key'].
SELECT id, body['name'], body['tags'][1], body['tags']['0'], body['addr']['city'], body['nope'] FROM docs ORDER BY id;
-- Containment and key existence.
SELECT id FROM docs WHERE body @> '{"tags": ["y"]}' ORDER BY id;
SELECT id FROM docs WHERE body @> '{"addr": {"city": "London"}}' ORDER BY id;
SELECT id FROM docs WHERE '{"age": 36.0}' <@ body ORDER BY id;
SELECT id, body ? 'tags', body ?| ARRAY['nope', 'age'], body ?& ARRAY['age', 'nope'] FROM docs ORDER BY id;
SELECT '["a", "b"]'::jsonb @> '"a"'::jsonb, '"a"'::jsonb @> '["a"]'::jsonb, '[1, [2, 3]]'::jsonb @> '[[3]]'::jsonb;
-- Equality compares values, not spelling.
SELECT id FROM docs WHERE body = '{"age":36, "tags":["x","y"], "addr":{"zip":null,"city":"London"}, "name":"Ada"}';
SELECT count(*) FROM docs WHERE body <> '"just a string"';
-- Functions.
SELECT id, jsonb_typeof(body), json_typeof(raw) FROM docs ORDER BY id;
SELECT jsonb_array_length(body), json_array_length(raw) FROM docs WHERE id = 2;
SELECT jsonb_extract_path(body, 'addr', 'city'), jsonb_extract_path_text(body, 'tags', '1') FROM docs WHERE id = 1;
SELECT to_jsonb('a "quoted" text'::text), to_json(42), to_jsonb(true), to_json(2.50);
SELECT json_build_object('id', id, 'body', body), jsonb_build_object('id', id, 'body', body) FROM docs WHERE id = 3;
SELECT json_build_array(1, 'two', NULL), jsonb_build_array(1, 'two', NULL);
SELECT jsonb_pretty(body) FROM docs WHERE id = 1;
SELECT pg_typeof(body), pg_typeof(raw), pg_typeof(body -> 'tags'), pg_typeof(raw -> 'name'), pg_typeof(body ->> 'name') FROM docs WHERE id = 1;
-- Aggregates, with their own ORDER BY, NULLs kept, json values embedded.
SELECT json_agg(id ORDER BY id DESC), jsonb_agg(body ORDER BY id), json_agg(raw ORDER BY id) FROM docs;
SELECT json_agg(x) FROM (VALUES ('a'), (NULL), ('b"c')) v(x);
SELECT jsonb_agg(id) FROM docs WHERE id < 0;
SELECT id % 2 AS odd, jsonb_agg(id ORDER BY id) FROM docs GROUP BY id % 2 ORDER BY 1;
SELECT json_object_agg(id, body ORDER BY id), jsonb_object_agg('k' || id, id) FROM docs;
SELECT json_object_agg(x, y) FROM (VALUES ('a', 1), ('a', 2)) v(x, y);
SELECT jsonb_object_agg(x, y) FROM (VALUES ('a', 1), ('a', 2)) v(x, y);
SELECT json_object_agg(x, y) FROM (VALUES ('a', 1), (NULL, 2)) v(x, y);
-- Concatenation and deletion.
SELECT body || '{"age": 37, "new": 1}', body - 'addr', body - ARRAY['tags', 'age'], body #- '{addr,zip}' FROM docs WHERE id = 1;
SELECT body || '[7]', body - 0, body - -1, body #- '{1}' FROM docs WHERE id = 2;
SELECT '1'::jsonb || '2'::jsonb, '{"a": 1}'::jsonb || '[2]'::jsonb, '[]'::jsonb || '{}'::jsonb;
-- jsonb_set and strip_nulls.
SELECT jsonb_set('{"a": {"b": 1}, "c": [1, 2]}', '{a,b}', '2');
SELECT jsonb_set('{"a": {"b": 1}}', '{a,x}', '"new"');
SELECT jsonb_set('{"a": {"b": 1}}', '{a,x}', '"new"', false);
SELECT jsonb_set('{"a": {"b": 1}}', '{z,x}', '1');
SELECT jsonb_set('[1, 2, 3]', '{-1}', '9'), jsonb_set('[1, 2, 3]', '{10}', '9'), jsonb_set('[1, 2, 3]', '{-10}', '9');
SELECT jsonb_set('{"c": [1, {"d": 2}]}', '{c,1,d}', '{"e": true}');
SELECT jsonb_set('{"a": 1}', '{a}', NULL);
SELECT jsonb_set('[1]', '{x}', '1');
SELECT jsonb_set('1', '{x}', '1');
SELECT jsonb_strip_nulls('{"a": null, "b": {"c": null, "d": 1}, "e": [null, {"f": null}]}');
SELECT json_strip_nulls('{"a": null, "b": 1.50}');
-- Updates through the key path and the general path.
UPDATE docs SET body = body || '{"age": 37}' WHERE id = 1;
UPDATE docs SET body = body - 'tags' WHERE id = 1;
UPDATE docs SET raw = '{"b": 1,  "a": 2}' WHERE id = 3;
UPDATE docs SET body = '{"z":1, "a":2}' WHERE body = '"just a string"';
INSERT INTO docs VALUES (3, '{"dup": true}') ON CONFLICT (id) DO UPDATE SET body = excluded.body;
SELECT id, body, raw FROM docs ORDER BY id;
DELETE FROM docs WHERE body @> '{"dup": true}';
SELECT id FROM docs ORDER BY id;
-- Bad input: PostgreSQL's message, detail and context.
SELECT t::jsonb FROM (VALUES ('{"a": }')) v(t);
SELECT t::json FROM (VALUES ('{"a" 1}')) v(t);
SELECT t::jsonb FROM (VALUES ('[1, 2')) v(t);
SELECT t::jsonb FROM (VALUES ('{"a": tru}')) v(t);
SELECT t::jsonb FROM (VALUES ('["\x"]')) v(t);
SELECT t::jsonb FROM (VALUES ('"\u0000"')) v(t);
SELECT t::json FROM (VALUES ('"\u0000"')) v(t);
SELECT t::jsonb FROM (VALUES (E'{"a": 1,\n "b": 01}')) v(t);
SELECT jsonb_array_length(body) FROM docs WHERE id = 1;
SELECT body - 1 FROM docs WHERE id = 1;
SELECT json_build_object('a');
-- COPY reads and writes the same text.
COPY docs (id, body, raw) FROM stdin;
10	{"k": [1, 2,3]}	{"k": [1, 2,3]}
\.
COPY (SELECT * FROM docs ORDER BY id) TO stdout;
DROP TABLE docs;
-- Without a column list, VALUES and SELECT fill the first columns.
CREATE TABLE short_rows (a int PRIMARY KEY, b int DEFAULT 7, c jsonb DEFAULT '{"d":1}');
INSERT INTO short_rows VALUES (1), (2);
INSERT INTO short_rows VALUES (3, 4);
INSERT INTO short_rows SELECT 5;
SELECT * FROM short_rows ORDER BY a;
DROP TABLE short_rows;
