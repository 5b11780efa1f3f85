-- percentile_disc and mode: ordered-set aggregates that pick an actual input value.
CREATE TABLE sales (id int PRIMARY KEY, region text, amount int, rating double precision);
INSERT INTO sales VALUES (1, 'north', 10, 4.5), (2, 'north', 30, 3.0), (3, 'north', 20, 4.5), (4, 'south', 5, NULL),
  (5, 'south', 5, 2.0), (6, 'south', 50, 2.0), (7, 'east', NULL, NULL);
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) AS median, percentile_disc(0) WITHIN GROUP (ORDER BY amount) AS lowest,
       percentile_disc(1) WITHIN GROUP (ORDER BY amount) AS highest, percentile_disc(0.9) WITHIN GROUP (ORDER BY amount DESC) AS p90_desc FROM sales;
SELECT region, percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) AS median, mode() WITHIN GROUP (ORDER BY rating) AS common_rating
FROM sales GROUP BY region ORDER BY region;
SELECT mode() WITHIN GROUP (ORDER BY region) FROM sales;
SELECT mode() WITHIN GROUP (ORDER BY amount DESC) FROM sales WHERE region = 'north';
SELECT percentile_disc(1.5) WITHIN GROUP (ORDER BY amount) FROM sales;
