-- mod() is PostgreSQL's spelling of %.
SELECT mod(17, 5), mod(-17, 5), mod(17, -5), 17 % 5;
CREATE TABLE m (a int, b bigint);
INSERT INTO m VALUES (10, 3), (11, 4), (-7, 2);
SELECT a, b, mod(a, b) AS r FROM m ORDER BY a;
SELECT count(*) FROM m WHERE mod(a, 2) = 0;
SELECT mod(5, 0);
