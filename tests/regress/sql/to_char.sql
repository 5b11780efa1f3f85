-- to_char: PostgreSQL's template patterns for dates, times and numbers.
\pset format unaligned
SET TimeZone = 'UTC';
CREATE TABLE tc (id int PRIMARY KEY, ts timestamp, tz timestamptz, d date, n numeric(12,3), i int, f double precision);
INSERT INTO tc VALUES
  (1, '2024-03-05 14:07:09.123456', '2024-03-05 14:07:09.123456+00', '2024-03-05', 1234.5, 7, 0.5),
  (2, '1999-12-31 00:00:00', '1999-12-31 23:59:59+00', '2000-01-01', -0.25, -42, -1234.5678),
  (3, '2021-01-03 12:30:00', '2021-07-04 09:05:00+00', '2021-02-28', 0, 0, 12345678.9),
  (4, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT id, to_char(ts, 'YYYY-MM-DD HH24:MI:SS') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'yyyy-mm-dd hh24:mi:ss.us') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'DD/MM/YY HH12:MI AM'), to_char(ts, 'HH:MI:SS pm') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'Month DD, YYYY'), to_char(ts, 'FMMonth FMDD, YYYY') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'MONTH|Mon|MON|mon|month') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'Day|DAY|day|Dy|DY|dy|FMDay') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'D ID DDD IDDD W WW IW Q CC J') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'IYYY IYY IY I YYY YY Y Y,YYY') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'DDth DDTH FMDDth Mth') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'MS US FF1 FF2 FF3 FF6 SSSS') FROM tc ORDER BY id;
SELECT id, to_char(ts, '"Quarter" Q "of" YYYY') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'A.M. a.m. P.M. AD ad B.C.') FROM tc ORDER BY id;
SELECT id, to_char(ts, 'RM rm') FROM tc ORDER BY id;
SELECT id, to_char(tz, 'YYYY-MM-DD HH24:MI:SS TZ OF') FROM tc ORDER BY id;
SELECT id, to_char(d, 'YYYY-MM-DD Dy') FROM tc ORDER BY id;
SET TimeZone = 'America/New_York';
SELECT id, to_char(tz, 'YYYY-MM-DD HH24:MI TZ OF tz') FROM tc ORDER BY id;
SET TimeZone = 'Asia/Kolkata';
SELECT id, to_char(tz, 'YYYY-MM-DD HH24:MI OF') FROM tc ORDER BY id;
RESET TimeZone;
SELECT to_char(interval '1 day 3 hours 4 minutes 5 seconds', 'DD HH24:MI:SS');
SELECT to_char(interval '50 hours', 'HH24:MI');
SELECT to_char(interval '2 years 3 months', 'YYYY-MM');
SELECT id, to_char(n, '99999.99'), to_char(n, 'FM99999.99'), to_char(n, '00000.000') FROM tc ORDER BY id;
SELECT id, to_char(n, '9G999D99'), to_char(n, '9,999.9'), to_char(n, 'S9999.9') FROM tc ORDER BY id;
SELECT id, to_char(i, '999'), to_char(i, '000'), to_char(i, 'FM999'), to_char(i, '9') FROM tc ORDER BY id;
SELECT id, to_char(i, 'MI999'), to_char(i, '999MI'), to_char(i, 'PL999'), to_char(i, 'SG999'), to_char(i, '999PR') FROM tc ORDER BY id;
SELECT id, to_char(f, '999,999,990.00'), to_char(f, 'FM999999990.099') FROM tc ORDER BY id;
SELECT id, to_char(i, '999th'), to_char(i, 'FM999TH') FROM tc ORDER BY id;
SELECT to_char(0.5, '9.99'), to_char(0.5, '0.99'), to_char(0.5, 'FM9.99'), to_char(0.5, 'FM0.99');
SELECT to_char(1234567, '9,999'), to_char(-5, '9'), to_char(5, 'FM9.'), to_char(12.0, 'FM99.9');
SELECT to_char(1234.5678, 'L9999.99'), to_char(148.5, '999D999'), to_char(3.14159, '9.9999999');
SELECT to_char(-0.1, '99.99'), to_char(-0.1, 'FM90.99'), to_char(100, '"n=" 999'), to_char(7, '"x"9"y"');
SELECT to_char(2.5::numeric, '9'), to_char(2.5::float8, '9'), to_char(-2.5::numeric, '9'), to_char(0.05, '9.9');
SELECT to_char(123456789012::bigint, '999,999,999,999'), to_char(1e20::numeric, '9.99EEEE');
-- Templates the function refuses.
SELECT to_char(5, '99V9');
SELECT to_char(5, '9.9.9');
SELECT to_char(interval '1 day', 'Day');
