-- Division by zero is an error for every numeric type, never Infinity or NaN.
CREATE TABLE q (id int PRIMARY KEY, i int, n numeric(8,2), f double precision);
INSERT INTO q VALUES (1, 6, 1.50, 3.0), (2, 0, 0.00, 0.0), (3, NULL, NULL, NULL);
SELECT 1 / 0;
SELECT 1::float8 / 0;
SELECT 1.0 / 0;
SELECT 5 % 0.0;
SELECT id, f / 2 AS half, i / 3 AS third FROM q ORDER BY id;
SELECT id, 1 / f FROM q ORDER BY id;
SELECT id, 10 / n FROM q ORDER BY id;
SELECT id, 10 / i FROM q ORDER BY id;
SELECT id, 1 / f FROM q WHERE f <> 0 ORDER BY id;
SELECT 'NaN'::float8 / 0;
SELECT sum(f) / count(f) AS mean FROM q;
SELECT id, CASE WHEN f <> 0 THEN 1 / f ELSE 0 END AS guarded, 1 / NULLIF(f, 0) AS nullif_idiom FROM q ORDER BY id;
