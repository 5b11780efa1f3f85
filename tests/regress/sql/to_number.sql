-- to_number reads a number written with a to_char template.
SELECT to_number('1,234.50', '9G999D99'), to_number('12,454.8-', '99G999D9S'), to_number('<123>', '999PR');
SELECT to_number('$1,000.00', 'L9G999D99'), to_number('1234567', '999'), to_number('12 34', '99 99'), to_number('0012', '0000');
CREATE TABLE imports (id int PRIMARY KEY, amount text);
INSERT INTO imports VALUES (1, '1,250.75'), (2, '  -3.10'), (3, NULL);
SELECT id, to_number(amount, '9G999D99') AS amount, to_number(amount, '9G999D99') * 2 AS doubled FROM imports ORDER BY id;
SELECT sum(to_number(amount, '9G999D99')) FROM imports;
SELECT to_number('1.5e3', '9.9EEEE');
