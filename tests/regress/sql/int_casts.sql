-- Casts to integer types round (numeric half away from zero, double precision
-- half to even) and refuse values out of range.
CREATE TABLE nums (id int PRIMARY KEY, n numeric(10,2), f double precision);
INSERT INTO nums VALUES (1, 1.50, 1.5), (2, 2.50, 2.5), (3, -2.50, -2.5), (4, 2.49, 2.49), (5, -0.50, -0.5), (6, NULL, NULL);
SELECT id, n::int AS n_int, f::int AS f_int, n::bigint AS n_big, f::smallint AS f_small FROM nums ORDER BY id;
SELECT id, CAST(n AS integer) + 1 AS plus_one FROM nums WHERE n > 0 ORDER BY id;
SELECT 1.5::int, 2.5::int, (-2.5)::int, 0.4::int;
SELECT 2147483647.4::int;
SELECT 2147483647.5::int;
SELECT f::int FROM (SELECT 1e10::float8 AS f) s;
SELECT n::smallint FROM (SELECT 40000.0::numeric AS n) s;
SELECT sum(n)::int AS total FROM nums;
