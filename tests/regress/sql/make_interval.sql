-- make_interval(): fields added up as given (12 months stay 12 months), every argument optional.
SELECT make_interval();
SELECT make_interval(1, 2, 3, 4, 5, 6, 7.5);
SELECT make_interval(days => 10);
SELECT make_interval(hours => 36, mins => 90);
SELECT make_interval(years => 1, secs => 0.25);
SELECT make_interval(0, 13, days := 40);
SELECT make_interval(weeks => -2, secs => -1.0000005);
SELECT make_interval(secs => 86400 * 2);
SELECT make_interval(secs => 0.0000025) AS half_even_down, make_interval(secs => 1.5e-6) AS half_even_up;
SELECT make_interval(days => NULL) IS NULL AS strict;
CREATE TABLE plans (id int PRIMARY KEY, months int, days int);
INSERT INTO plans VALUES (1, 1, 0), (2, 0, 14), (3, 12, 1), (4, NULL, 3);
SELECT id, make_interval(months => months, days => days) FROM plans ORDER BY id;
SELECT id, timestamp '2024-01-31 12:00' + make_interval(months => months, days => days) AS due FROM plans ORDER BY id;
