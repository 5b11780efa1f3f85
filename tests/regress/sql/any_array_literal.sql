-- x = ANY('{…}') and x <> ALL('{…}'): an untyped array literal takes the
-- array type of the other side, as node-postgres and hand-written SQL use it.
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), added date);
INSERT INTO items VALUES (1, 'apple', 1.50, '2024-01-01'), (2, 'b c', 2.25, '2024-02-01'), (3, NULL, NULL, NULL), (4, 'a,b', 4.00, '2024-04-01');
SELECT id FROM items WHERE id = ANY('{1,3}') ORDER BY id;
SELECT id FROM items WHERE id = SOME('{ 2 , 4 }') ORDER BY id;
SELECT id FROM items WHERE name = ANY('{apple,"b c","a,b"}') ORDER BY id;
SELECT id FROM items WHERE price = ANY('{1.5,4}') ORDER BY id;
SELECT id FROM items WHERE added = ANY('{2024-02-01,2024-04-01}') ORDER BY id;
SELECT id FROM items WHERE id <> ALL('{1,2}') ORDER BY id;
SELECT id FROM items WHERE NOT (id = ANY('{1,2}')) ORDER BY id;
-- NULL elements: no match is unknown, not false.
SELECT id, id = ANY('{1,NULL}') AS any_null, id <> ALL('{1,NULL}') AS all_null FROM items ORDER BY id;
SELECT id, id = ANY('{}') AS in_empty, id <> ALL('{}') AS not_in_empty FROM items ORDER BY id;
SELECT count(*) FROM items WHERE name = ANY('{"NULL",NULL}');
-- In an UPDATE and a DELETE too.
UPDATE items SET price = 0 WHERE id = ANY('{3,4}');
DELETE FROM items WHERE id = ANY('{4}');
SELECT id, price FROM items ORDER BY id;
DROP TABLE items;
