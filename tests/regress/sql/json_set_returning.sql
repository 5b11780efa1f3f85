-- json and jsonb set-returning functions: in the select list (one row per
-- element, several in lockstep) and in FROM (PostgreSQL's column names).
SELECT jsonb_array_elements('[1,"a",{"b":2},null,[3]]'::jsonb);
SELECT * FROM jsonb_array_elements('[1, "a", {"b": 2}]');
SELECT value->>'b' AS b FROM jsonb_array_elements('[{"b":1},{"b":2}]') e;
SELECT e.value FROM jsonb_array_elements('[1,2]') AS e;
SELECT jsonb_array_elements_text('["x",1,null,{"a":1}]');
SELECT * FROM jsonb_array_elements_text('["x",true]') AS t(v);
SELECT * FROM json_array_elements('[1, {"a" :  2}, "x"]');
SELECT json_array_elements_text('[1, {"a" :  2}, "x"]');
SELECT jsonb_object_keys('{"b":1,"a":2}');
SELECT k FROM jsonb_object_keys('{"b":1,"a":2}') k;
SELECT json_object_keys('{"b":1,"a":2,"b":3}');
SELECT * FROM jsonb_each('{"a":1,"b":[2,3],"c":"x","d":null}');
SELECT key, value FROM json_each('{"a":1,"a":2}');
SELECT * FROM jsonb_each_text('{"a":1,"b":"x","c":null}') AS t(k, v);
SELECT * FROM json_each_text('{"a":{"b":1}}');
SELECT jsonb_array_elements('[{"sku":"a"},{"sku":"b"}]')->>'sku' AS sku, 5 AS n;
SELECT pg_typeof(value) FROM jsonb_array_elements('[1]');
SELECT pg_typeof(value) FROM json_each('{"a":1}');
SELECT jsonb_array_elements('[1,2]') AS a, jsonb_array_elements('[3,4,5]') AS b;
SELECT count(*) FROM jsonb_array_elements(NULL);
SELECT jsonb_array_elements('{"a":1}');
SELECT * FROM jsonb_array_elements('7');
SELECT * FROM jsonb_each('[1]');
SELECT * FROM json_each_text('"x"');
SELECT jsonb_object_keys('[1]');
SELECT json_object_keys('3');

CREATE TABLE docs (id int PRIMARY KEY, doc jsonb);
INSERT INTO docs VALUES
  (1, '{"items":[{"sku":"a","q":2},{"sku":"b","q":1}]}'),
  (2, '{"items":[]}'),
  (3, NULL),
  (4, '{"items":[{"sku":"c","q":5}]}');
SELECT id, jsonb_array_elements(doc->'items')->>'sku' AS sku FROM docs ORDER BY 1, 2;
SELECT sku, count(*) FROM (SELECT jsonb_array_elements(doc->'items')->>'sku' AS sku FROM docs) s GROUP BY sku ORDER BY sku;
SELECT id, sum(q) FROM (SELECT id, (jsonb_array_elements(doc->'items')->>'q')::int AS q FROM docs) s GROUP BY id ORDER BY id;
SELECT DISTINCT jsonb_object_keys(doc) AS k FROM docs ORDER BY k;
DROP TABLE docs;
SELECT * FROM json_each('[1]');
