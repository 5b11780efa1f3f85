-- age(): years and months first, then days borrowed from the earlier month.
SELECT age('2024-03-15'::date, '2024-01-01'::date);
SELECT age(timestamp '2024-03-15', timestamp '2024-01-31');
SELECT age(timestamp '2024-01-01', timestamp '2024-03-15');
SELECT age(timestamp '2001-04-10', timestamp '1957-06-13');
SELECT age(timestamp '2024-03-01 01:00', timestamp '2024-02-28 23:00:00.5');
CREATE TABLE people (id int PRIMARY KEY, born date);
INSERT INTO people VALUES (1, '1990-02-28'), (2, '2000-12-31'), (3, NULL);
SELECT id, age(date '2024-02-29', born) FROM people ORDER BY id;
SELECT id, extract(year from age(date '2024-02-29', born)) AS years FROM people ORDER BY id;
SELECT age(current_date - 40) = age(current_date::timestamp, (current_date - 40)::timestamp) AS one_argument_is_from_today;
