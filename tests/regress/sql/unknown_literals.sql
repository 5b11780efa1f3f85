-- An untyped string next to a date, time or interval takes the type
-- PostgreSQL's operator resolution gives it.
SELECT timestamp '2024-01-02 10:00' + '1 day 2 hours' AS plus, '1 day' + timestamp '2024-01-02 10:00' AS commuted;
SELECT timestamp '2024-01-02 10:00' - '2024-01-01' AS since, '2024-01-03' - timestamp '2024-01-02 10:00' AS until;
SELECT timestamptz '2024-01-02 10:00+00' + '1 hour' AS tz_plus;
SELECT date '2024-01-02' - '2024-01-01' AS days, '2024-01-03'::date - '2024-01-01' AS days_cast;
SELECT time '10:00' + '1 hour 30 minutes' AS later, time '10:00' - '08:15' AS elapsed;
SELECT interval '1 day' + '2 hours' AS iv_plus, interval '1 day' - '1 hour' AS iv_minus, '3 days' - interval '1 day' AS iv_left;
SELECT 1 + '2' AS int_plus, 10 - '3' AS int_minus, 1.5::float8 + '2.25' AS float_plus;
CREATE TABLE visits (id int PRIMARY KEY, at timestamp, day date);
INSERT INTO visits VALUES (1, '2024-01-01 12:00', '2024-01-01'), (2, '2024-02-29 06:00', '2024-02-29'), (3, NULL, NULL);
SELECT id, at + '1 month' AS next_month, at - '2024-01-01' AS since_new_year, day - '2024-01-01' AS days FROM visits ORDER BY id;
SELECT id FROM visits WHERE at + '1 day' > timestamp '2024-02-01' ORDER BY id;
DROP TABLE visits;
-- numeric ± an untyped string: the string is a numeric with its own scale
CREATE TABLE prices (id int PRIMARY KEY, amount numeric(10,2));
INSERT INTO prices VALUES (1, 10.25), (2, NULL);
SELECT id, amount + '1.255' AS plus, amount - '0.5' AS minus, '100' - amount AS from_100 FROM prices ORDER BY id;
SELECT 1.5 + '2.25' AS literal_sum;
