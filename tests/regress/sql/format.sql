-- format(): %s, %I, %L, positions and widths
SELECT format('Hello %s', 'World') AS greeting, format('%s-%s', 'a', 1) AS joined;
SELECT format('INSERT INTO %I VALUES(%L)', 'Foo bar', E'O\'Reilly') AS statement;
SELECT format('%s|%L|%I', NULL, NULL, 'ok') AS nulls, format('%L', 42) AS number;
SELECT format('|%10s|%-10s|', 'foo', 'bar') AS widths, format('|%*s|%-*s|', 5, 'x', -4, 'y') AS star;
SELECT format('%2$s %1$s %s', 'a', 'b') AS positions, format('100%%') AS percent;
SELECT format('%s, %s, %s', 1.50, date '2024-03-01', true) AS typed;
SELECT format('%I.%I', 'public', 'select') AS quoted, format(NULL) AS null_template;
CREATE TABLE people (id int PRIMARY KEY, name text);
INSERT INTO people VALUES (1, 'ann'), (2, NULL);
SELECT id, format('person %s: %L', id, name) AS line FROM people ORDER BY id;
DROP TABLE people;
SELECT format('%s %s', 'a');
SELECT format('%d', 1);
SELECT format('%I', NULL);
