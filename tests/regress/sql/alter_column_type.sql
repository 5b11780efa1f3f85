-- ALTER COLUMN … TYPE where every stored value stays valid as it is:
-- a longer varchar, and varchar, char or json to text.
CREATE TABLE people (id int PRIMARY KEY, name varchar(5), code char(3), doc json);
CREATE INDEX people_name ON people (name);
INSERT INTO people VALUES (1, 'ada', 'x', '{"a": 1}'), (2, 'grace', 'yz', '[]');
ALTER TABLE people ALTER COLUMN name TYPE varchar(20);
INSERT INTO people VALUES (3, 'katherine', 'abc', 'null');
ALTER TABLE people ALTER COLUMN name SET DATA TYPE varchar(30) USING name;
ALTER TABLE people ALTER COLUMN code TYPE varchar(10);
ALTER TABLE people ALTER COLUMN doc TYPE text;
ALTER TABLE people ALTER COLUMN name TYPE text;
SELECT * FROM people WHERE name = 'katherine';
SELECT id, name, code, length(code), doc FROM people ORDER BY id;
SELECT column_name, data_type, character_maximum_length FROM information_schema.columns
WHERE table_name = 'people' ORDER BY ordinal_position;
DROP TABLE people;
