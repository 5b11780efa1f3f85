-- uuid columns: any spelling PostgreSQL reads goes in, canonical text comes
-- out, ordered by bytes; literals in other spellings find their rows.
CREATE TABLE accounts (id uuid PRIMARY KEY, owner text NOT NULL, parent uuid);
INSERT INTO accounts VALUES
  ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'ann', NULL),
  ('{B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12}', 'bob', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
  ('00000000000040008000000000000001', 'cy', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),
  ('ffff-ffff-0000-4000-8000-0000-0000-0002', 'di', NULL);
SELECT id, owner FROM accounts ORDER BY id;
SELECT owner FROM accounts WHERE id = 'B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12';
SELECT owner FROM accounts WHERE parent = '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}' ORDER BY owner;
SELECT count(*) FROM accounts WHERE id IN ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'ffffffff-0000-4000-8000-000000000002');
SELECT owner FROM accounts WHERE id > 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' ORDER BY id;
SELECT c.owner, p.owner AS parent FROM accounts c JOIN accounts p ON c.parent = p.id ORDER BY c.owner;
SELECT parent, count(*) FROM accounts GROUP BY parent ORDER BY parent NULLS FIRST;
UPDATE accounts SET owner = 'bo' WHERE id = 'b0eebc999c0b4ef8bb6d6bb9bd380a12';
DELETE FROM accounts WHERE id = 'FFFFFFFF-0000-4000-8000-000000000002';
SELECT id::text, upper(id::text) FROM accounts ORDER BY 1;
SELECT id, owner FROM accounts ORDER BY id DESC LIMIT 2;
