-- to_date / to_timestamp read PostgreSQL's templates; to_timestamp(n) is epoch seconds.
SET TimeZone = 'UTC';
SELECT to_date('05 Mar 2024', 'DD Mon YYYY');
SELECT to_date('20240305', 'YYYYMMDD'), to_date('2024-3-5', 'YYYY-MM-DD'), to_date('March 5, 24', 'Month DD, YY');
SELECT to_timestamp('2024-03-05 14:07', 'YYYY-MM-DD HH24:MI');
SELECT to_timestamp('05/03/2024 2:07:09.5 PM', 'DD/MM/YYYY HH12:MI:SS.MS AM');
SELECT to_timestamp('2024-03-05 14:07 +05:30', 'YYYY-MM-DD HH24:MI OF');
SELECT to_timestamp('2024-03-05 14:07 -05:30', 'YYYY-MM-DD HH24:MI TZH:TZM'), to_timestamp('2024-03-05 14:07 +02', 'YYYY-MM-DD HH24:MI TZH');
SELECT to_timestamp(1700000000), to_timestamp(0.5);
SELECT to_date('2024-060', 'YYYY-DDD');
CREATE TABLE raw (id int PRIMARY KEY, s text);
INSERT INTO raw VALUES (1, '31.12.1999'), (2, '01.01.2000'), (3, NULL);
SELECT id, to_date(s, 'DD.MM.YYYY') AS d, to_char(to_date(s, 'DD.MM.YYYY'), 'YYYY-MM-DD Dy') AS back FROM raw ORDER BY id;
SET TimeZone = 'America/New_York';
SELECT to_timestamp('2024-07-04 09:00', 'YYYY-MM-DD HH24:MI');
RESET TimeZone;
SELECT to_date('2024-02-30', 'YYYY-MM-DD');
SELECT to_date('2024-xx-01', 'YYYY-MM-DD');
SELECT variance(x), var_samp(x) FROM (VALUES (1::float8), (2), (3)) v(x);
