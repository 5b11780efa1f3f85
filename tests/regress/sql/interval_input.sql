-- Interval input as PostgreSQL reads it: its own output form, signs per
-- field, fractions, SQL and ISO 8601 forms, `ago`, and the errors.
SELECT interval '3 days 04:05:06' AS printed_form, interval '1 year 2 mons -3 days' AS mixed;
SELECT interval '-1 day +2 hours' AS signs, interval '-1 days -02:00:00' AS negative_time;
SELECT interval '-1 day 2:00:00.000005' AS psycopg_timedelta, interval '1 day, 2:00:00' AS python_str;
SELECT interval '@ 1 day 2 hours ago' AS ago, interval '+3 days' AS plus;
SELECT interval '1.5 weeks' AS weeks, interval '1.7 years' AS years, interval '1.5 months' AS months;
SELECT interval '10min' AS touching, interval '5' AS bare_seconds, interval '1 2:00' AS day_time;
SELECT interval '1:30' AS hours_minutes, interval '1:30.5' AS minutes_seconds, interval '100:00:00' AS long_hours;
SELECT interval '1-2' AS year_month, interval '-1-2' AS negative_year_month;
SELECT interval '1 millennium 2 centuries' AS big, interval '3 decades' AS decades;
SELECT interval '0.000005 seconds' AS micro, interval '2 ms 3 us' AS units;
SELECT interval 'P1Y2M3DT4H5M6S' AS iso, interval 'PT1.5H' AS iso_fraction, interval 'P2W' AS iso_weeks;
SELECT interval 'P0001-02-03T04:05:06' AS iso_alternative;
SELECT '1 day 02:00'::interval AS cast_literal, CAST('45 minutes' AS interval) AS cast_function;
SELECT interval '1' day AS qualified, interval '2 hours' * 3 AS scaled;
SELECT timestamp '2024-01-31 10:00' + interval '1 mon 1 day 02:00' AS shifted;
SELECT date '2024-03-01' - interval '1 day 12:00' AS from_date;
CREATE TABLE spans (id int PRIMARY KEY, span text);
INSERT INTO spans VALUES (1, '1 day 01:00:00'), (2, '-2 hours'), (3, NULL), (4, '1-6');
SELECT id, span::interval AS span FROM spans ORDER BY id;
DROP TABLE spans;
SELECT interval 'garbage';
SELECT interval '1 day 2 days';
SELECT interval '1 hour 2:00';
SELECT interval '1:60';
SELECT interval '3000000000 days';
