-- SIMILAR TO: SQL's pattern language (% and _ as in LIKE, regex alternation and repetition).
CREATE TABLE words (id int PRIMARY KEY, w text);
INSERT INTO words VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'a.b'), (5, 'axb'), (6, '100%'), (7, NULL);
SELECT id, w, w SIMILAR TO '(a|b)%' AS ab, w SIMILAR TO '%o%' AS has_o, w NOT SIMILAR TO '_o_' AS not_3 FROM words ORDER BY id;
SELECT id FROM words WHERE w SIMILAR TO 'a.b' ORDER BY id;
SELECT id FROM words WHERE w SIMILAR TO '[a-c]%(e|l)' ORDER BY id;
SELECT id FROM words WHERE w SIMILAR TO '1{1}0+\%' ORDER BY id;
SELECT id FROM words WHERE w SIMILAR TO '%#%' ESCAPE '#' ORDER BY id;
SELECT 'abc' SIMILAR TO 'abc', 'abc' SIMILAR TO 'a', 'abc' SIMILAR TO '%(b|d)%', 'AbC' SIMILAR TO 'abc';
