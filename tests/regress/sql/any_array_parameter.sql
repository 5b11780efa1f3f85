-- x = ANY($1) and x <> ALL($1): the parameter is an array of x's type, so a
-- text array literal reads as one (PREPARE / EXECUTE sends it as text, as
-- drivers that send arrays in text form do).
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2));
INSERT INTO items VALUES (1, 'apple', 1.50), (2, 'b c', 2.25), (3, NULL, NULL), (4, 'a,b', 4.00);
PREPARE by_id AS SELECT id FROM items WHERE id = ANY($1) ORDER BY id;
EXECUTE by_id('{1,3,9}');
EXECUTE by_id('{}');
EXECUTE by_id('{2,NULL}');
PREPARE by_name AS SELECT id FROM items WHERE name = ANY($1) ORDER BY id;
EXECUTE by_name('{apple,"a,b",NULL}');
PREPARE by_price AS SELECT id FROM items WHERE price > ANY($1) ORDER BY id;
EXECUTE by_price('{2,3.5}');
PREPARE not_in AS SELECT id FROM items WHERE id <> ALL($1) ORDER BY id;
EXECUTE not_in('{1,2}');
PREPARE del AS DELETE FROM items WHERE id = ANY($1);
EXECUTE del('{1,4}');
SELECT id FROM items ORDER BY id;
DEALLOCATE ALL;
DROP TABLE items;
