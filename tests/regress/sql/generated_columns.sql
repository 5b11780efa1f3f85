-- Stored generated columns (GENERATED ALWAYS AS (expr) STORED): computed on
-- every write, by the statement evaluator or through the query engine,
-- never written by clients, shown by the catalogs.
CREATE TABLE orders (
    id int PRIMARY KEY,
    price numeric(8,2) NOT NULL,
    qty int NOT NULL,
    total numeric(10,2) GENERATED ALWAYS AS (price * qty) STORED,
    email text,
    email_key text GENERATED ALWAYS AS (lower(trim(email))) STORED,
    size text GENERATED ALWAYS AS (CASE WHEN qty >= 10 THEN 'bulk' ELSE 'single' END) STORED
);
CREATE INDEX orders_email_key ON orders (email_key);
INSERT INTO orders (id, price, qty, email) VALUES (1, 2.50, 4, '  Ada@Example.COM '), (2, 1.25, 12, NULL);
INSERT INTO orders VALUES (3, 10, 1, DEFAULT, 'grace@example.com', DEFAULT, DEFAULT) RETURNING total, email_key, size;
SELECT * FROM orders ORDER BY id;
SELECT id FROM orders WHERE email_key = 'ada@example.com';
-- Clients cannot write them.
INSERT INTO orders (id, price, qty, total) VALUES (4, 1, 1, 99);
INSERT INTO orders VALUES (4, 1, 1, 1, NULL, NULL, NULL);
UPDATE orders SET total = 0 WHERE id = 1;
-- Updates recompute them, on the key path and the general one.
UPDATE orders SET qty = qty + 10 WHERE id = 1 RETURNING total, size;
UPDATE orders SET price = price * 2, total = DEFAULT WHERE qty > 5;
SELECT id, price, qty, total, size FROM orders ORDER BY id;
INSERT INTO orders (id, price, qty, email) VALUES (3, 1, 1, 'NEW@x')
ON CONFLICT (id) DO UPDATE SET qty = excluded.qty + 100, email = excluded.email RETURNING *;
-- COPY loads and shows only the ordinary columns.
COPY orders (id, price, qty, email) FROM STDIN;
5	0.5	30	Copy@X
\.
COPY orders (id, total) TO STDOUT;
CREATE TABLE copied (a int, b int GENERATED ALWAYS AS (a + 1) STORED, c text);
COPY copied FROM STDIN;
1	one
2	two
\.
COPY copied TO STDOUT;
COPY copied (b) FROM STDIN;
SELECT * FROM copied;
DROP TABLE copied;
SELECT id, total, email_key, size FROM orders WHERE id = 5;
-- The catalogs (which show the expression as written; PostgreSQL shows
-- its own rendering, the same here).
SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 ORDER BY attnum;
CREATE TABLE contacts (email text, email_key text GENERATED ALWAYS AS (lower(email)) STORED);
\d contacts
SELECT column_name, column_default, is_generated, generation_expression
FROM information_schema.columns WHERE table_name = 'contacts' ORDER BY ordinal_position;
DROP TABLE contacts;
-- PostgreSQL's rules for the expression (the errors PostgreSQL reports
-- with a position are checked in tests/errors.rs).
CREATE TABLE bad (a timestamp, b timestamp GENERATED ALWAYS AS (now()) STORED);
ALTER TABLE orders ADD COLUMN tax numeric(10,2) GENERATED ALWAYS AS (total * 0.2) STORED;
-- DDL around them.
ALTER TABLE orders ALTER COLUMN total SET DEFAULT 1;
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
ALTER TABLE orders DROP COLUMN email;
ALTER TABLE orders RENAME COLUMN price TO unit_price;
INSERT INTO orders (id, unit_price, qty) VALUES (6, 3, 3) RETURNING total;
ALTER TABLE orders ADD COLUMN tax numeric(10,2) GENERATED ALWAYS AS (unit_price * 0.2) STORED;
SELECT id, total, tax FROM orders ORDER BY id;
ALTER TABLE orders DROP COLUMN email CASCADE;
SELECT * FROM orders ORDER BY id;
-- A value that does not fit the column's type fails the write.
CREATE TABLE small (a int, b smallint GENERATED ALWAYS AS (a * 1000) STORED);
INSERT INTO small (a) VALUES (1), (40);
UPDATE small SET a = 1;
SELECT * FROM small;
DROP TABLE small;
-- A foreign key's action recomputes the child's generated columns.
CREATE TABLE team (id int PRIMARY KEY);
CREATE TABLE member (
    id int PRIMARY KEY,
    team_id int REFERENCES team ON UPDATE CASCADE ON DELETE SET NULL,
    label text GENERATED ALWAYS AS ('team ' || coalesce(team_id::text, 'none')) STORED
);
INSERT INTO team VALUES (1), (2);
INSERT INTO member (id, team_id) VALUES (10, 1), (20, 2);
UPDATE team SET id = 5 WHERE id = 1;
DELETE FROM team WHERE id = 2;
SELECT * FROM member ORDER BY id;
DROP TABLE member;
DROP TABLE team;
DROP TABLE orders;
