-- date ± interval is a timestamp (the time part is kept)
SELECT date '2024-01-31' + interval '1 month' AS next_month;
SELECT date '2024-01-01' + interval '1 hour' AS hour_later, interval '36 hours' + date '2024-01-01' AS commuted;
SELECT date '2024-01-01' - interval '1 day 2 hours' AS earlier;
SELECT pg_typeof(date '2024-01-01' + interval '1 day') AS type;
-- date ± integer is a date, date - date an integer
SELECT date '2024-01-01' + 7 AS week_later, date '2024-01-01' - 1 AS day_before, date '2024-03-01' - date '2024-02-01' AS days;
SELECT (date '2024-01-01' + interval '36 hours')::date AS as_date;
CREATE TABLE events (id int PRIMARY KEY, day date, at timestamp);
INSERT INTO events VALUES (1, '2024-01-01', '2024-01-01 12:00'), (2, '2024-02-29', '2024-03-01 06:00'), (3, NULL, NULL);
SELECT id, day + interval '1 month' AS plus_month, day + interval '90 minutes' AS plus_minutes FROM events ORDER BY id;
-- a timestamp from a date compares with timestamps and dates
SELECT id FROM events WHERE day + interval '12 hours' = at ORDER BY id;
SELECT id FROM events WHERE day + interval '1 day' > date '2024-02-01' ORDER BY id;
SELECT id, at - (day + interval '6 hours') AS gap FROM events ORDER BY id;
SELECT max(day + interval '1 week') AS latest FROM events;
DROP TABLE events;
-- timestamp - timestamp counts whole days as days (justify_hours)
SELECT timestamp '2024-03-01 06:00' - timestamp '2024-02-29 05:00' AS later, timestamp '2024-02-29 05:00' - timestamp '2024-03-01 06:00' AS earlier;
SELECT timestamp '2024-01-01 10:00' - timestamp '2024-01-01 08:30' AS short, timestamptz '2024-01-03 00:00+00' - timestamptz '2024-01-01 12:00+00' AS tz;
SELECT (timestamp '2024-03-01' - interval '50 hours') AS back, timestamp '2024-03-01' - (timestamp '2024-03-01' - interval '50 hours') AS elapsed;
-- timestamptz literals are read in the session's TimeZone unless they name an offset
SET TimeZone = 'Asia/Tokyo';
SELECT timestamptz '2024-01-03 00:00' AS local, '2024-01-03 00:00+00'::timestamptz AS utc, timestamptz '2024-07-01 12:30:15.5-04' AS offset;
SELECT timestamptz '2024-01-03 00:00' - timestamptz '2024-01-01 12:00+00' AS elapsed;
RESET TimeZone;
-- intervals print as PostgreSQL prints them
SELECT interval '-1 day' + interval '2 hours' AS a, interval '1 day' - interval '2 hours' AS b, interval '-13 mons' - interval '1 day' AS c, interval '-1 day' AS d;
-- make_timestamptz: in the session's TimeZone or a named one
SET TimeZone = 'Europe/Berlin';
SELECT make_timestamptz(2024, 7, 1, 12, 30, 15.5) AS summer, make_timestamptz(2024, 1, 1, 0, 0, 0, 'America/New_York') AS new_york;
SELECT make_timestamptz(2024, 1, 1, 0, 0, 0, 'Mars/Base');
SELECT make_timestamptz(2024, 2, 30, 0, 0, 0);
RESET TimeZone;
-- Text read as PostgreSQL reads it when cast: no seconds, compact dates, a comparison's literal.
SELECT ('2024-01-01 03:00'::text)::timestamp AS no_seconds, ('20240301'::text)::date AS compact;
SELECT timestamp '2024-01-01 03:00:01' > '2024-01-01 03:00' AS later;
SELECT ('soon'::text)::date;
-- A date column compared with date ± interval (a timestamp): the same rows as comparing timestamps.
CREATE TABLE shipments (id int PRIMARY KEY, shipped date);
INSERT INTO shipments VALUES (1, '2023-12-31'), (2, '2024-01-01'), (3, '2024-01-02'), (4, NULL);
SELECT id FROM shipments WHERE shipped < date '2024-01-01' + interval '12 hours' ORDER BY id;
SELECT id FROM shipments WHERE shipped >= date '2024-01-01' + interval '12 hours' ORDER BY id;
SELECT id FROM shipments WHERE shipped > date '2024-01-01' - interval '1 day' ORDER BY id;
SELECT id FROM shipments WHERE shipped = date '2023-12-01' + interval '1 month' ORDER BY id;
SELECT id FROM shipments WHERE shipped = date '2024-01-01' + interval '1 hour' ORDER BY id;
SELECT id FROM shipments WHERE date '2024-01-02' - interval '1 minute' >= shipped ORDER BY id;
DROP TABLE shipments;
