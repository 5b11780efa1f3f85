-- COPY FROM holds loaded rows to CHECK and FOREIGN KEY constraints, as INSERT does.
CREATE TABLE cc_parent (id int PRIMARY KEY);
INSERT INTO cc_parent VALUES (1), (2);
CREATE TABLE cc_child (id int PRIMARY KEY, parent int REFERENCES cc_parent, qty int CHECK (qty > 0));
COPY cc_child FROM STDIN;
1	1	5
2	2	1
\.
-- A CHECK violation names the line it came from, and nothing of the COPY stays.
COPY cc_child FROM STDIN;
3	1	4
4	2	0
5	1	1
\.
-- So does a missing parent row.
COPY cc_child FROM STDIN (FORMAT csv);
6,1,1
7,9,1
\.
-- NULLs pass both, as in INSERT.
COPY cc_child FROM STDIN;
8	\N	\N
\.
SELECT * FROM cc_child ORDER BY id;
DROP TABLE cc_child, cc_parent;
