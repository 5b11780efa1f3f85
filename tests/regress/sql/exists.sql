-- EXISTS as a value in a select list (SQLAlchemy's exists(), Django's .exists() checks).
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, user_id int, amount numeric(8,2));
INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cid');
INSERT INTO orders VALUES (10, 1, 5.00), (11, 1, 7.50), (12, 3, 1.25);
SELECT EXISTS (SELECT 1 FROM orders WHERE user_id = 1);
SELECT EXISTS (SELECT * FROM orders WHERE user_id = 2) AS anon_1;
SELECT NOT EXISTS (SELECT 1 FROM orders WHERE amount > 100) AS none_big;
SELECT u.name, EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) AS has_orders FROM users u ORDER BY u.id;
SELECT u.name, NOT EXISTS (SELECT o.id FROM orders o WHERE o.user_id = u.id AND o.amount > 6) AS no_big FROM users u ORDER BY u.id;
SELECT EXISTS (SELECT max(amount) FROM orders WHERE false) AS aggregate_row;
SELECT EXISTS (SELECT user_id FROM orders GROUP BY user_id HAVING count(*) > 1) AS repeat_buyer;
SELECT EXISTS (SELECT 1 FROM orders LIMIT 0) AS limited;
SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE name = 'bob') THEN 'yes' ELSE 'no' END AS bob;
SELECT name FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) ORDER BY name;
