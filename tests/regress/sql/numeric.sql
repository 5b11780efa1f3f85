-- Decimal literals are numeric, exact as in PostgreSQL
SELECT 0.1 + 0.2 AS sum, 1.10 * 3 AS product, 3 * 0.333 AS third;
SELECT 123456789012345678901234567890.123 AS big, 1e3 AS thousand;
SELECT pg_typeof(0.1) AS literal, pg_typeof(0.1::float8 + 1) AS float;
SELECT 2.5::int AS half_up, (-2.5)::int AS half_down, 2.5::float8::int AS float_even;
CREATE TABLE items (id int PRIMARY KEY, price numeric(10,2), qty int, ratio numeric);
INSERT INTO items VALUES (1, 19.99, 3, 1.25), (2, 5.25, 7, 10.005), (3, 0.10, 1, 3);
-- numeric(10,2) with a literal keeps numeric's scale rules
SELECT id, price * 1.1 AS taxed, price * qty AS total, price + 0.005 AS plus FROM items ORDER BY id;
SELECT * FROM items WHERE price > 5.2 ORDER BY id;
SELECT sum(price) AS sum, sum(price * qty) AS revenue FROM items;
-- numeric division keeps 16 significant digits (quotients from 1 to 9999)
SELECT id, price / 3 AS third, qty / 2.0 AS half FROM items ORDER BY id;
SELECT 10 / 4.0 AS q, 2 / 3.0 AS two_thirds, -2 / 3.0 AS negative;
SELECT 1 / 0.0;
-- avg of numeric and of integers is numeric
SELECT avg(price) AS avg_price, avg(qty) AS avg_qty FROM items;
SELECT id % 2 AS odd, avg(price) AS avg_price, avg(qty) AS avg_qty FROM items GROUP BY id % 2 ORDER BY 1;
SELECT avg(price) FILTER (WHERE qty > 1) AS filtered, avg(qty) FILTER (WHERE false) AS none FROM items;
SELECT avg(x) AS avg_float FROM (VALUES (1.5::float8), (2.0::float8)) v(x);
SELECT pg_typeof(avg(qty)) AS int_avg, pg_typeof(avg(price)) AS numeric_avg FROM items;
-- numeric without a type modifier shows each value's digits
SELECT id, ratio FROM items ORDER BY id;
SELECT sum(ratio) AS sum, avg(ratio) AS avg FROM items;
SELECT 1.5::numeric AS cast;
DROP TABLE items;
-- ceil, floor and trunc give the scale they round to; sign
SELECT ceil(2.1) AS ceil, floor(-2.1) AS floor, ceil(-0.5) AS ceil_neg, trunc(2.678, 1) AS trunc1, trunc(2.5) AS trunc0, trunc(2.5, 3) AS trunc3;
SELECT round(2.5) AS round, round(-2.5) AS round_neg, round(2.675, 2) AS round2;
SELECT sign(-1.5) AS neg, sign(0) AS zero, sign(2.5::float8) AS float, sign(NULL::numeric) AS null;
-- a numeric's text is what the wire shows
CREATE TABLE ratios (id int PRIMARY KEY, r numeric, p numeric(10,2));
INSERT INTO ratios VALUES (1, 1.25, 19.99), (2, 3, 0.10);
SELECT id, r::text AS r_text, 'ratio ' || r AS label, p::text AS p_text, (p / 3)::text AS third, (10 / 4.0)::text AS q FROM ratios ORDER BY id;
SELECT avg(p)::text AS avg_text, 'avg ' || avg(r) AS avg_label FROM ratios;
DROP TABLE ratios;
-- width_bucket
SELECT width_bucket(5.35, 0.024, 10.06, 5) AS up, width_bucket(5.35, 10.06, 0.024, 5) AS down, width_bucket(-1, 0, 10, 5) AS below, width_bucket(10, 0, 10, 5) AS above, width_bucket(9.999999999999999, 0, 10, 5) AS edge;
SELECT width_bucket(1, 0, 10, 0);
SELECT width_bucket(1, 5, 5, 3);
SELECT width_bucket(99999999999999999999999999999999999999, -99999999999999999999999999999999999999, 99999999999999999999999999999999999999, 10) AS wide;
