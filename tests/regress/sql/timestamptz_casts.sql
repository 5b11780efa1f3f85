-- Casts into and out of timestamptz go through the session's TimeZone.
SET TimeZone = 'America/New_York';
CREATE TABLE events (id int PRIMARY KEY, at timestamptz, local_at timestamp, label text);
INSERT INTO events VALUES
  (1, '2024-01-01 10:00', '2024-01-01 10:00', '2024-01-01 10:00'),
  (2, '2024-07-01 10:00+00', '2024-07-01 10:00', '2024-07-01 10:00+00'),
  (3, NULL, NULL, NULL);
-- text → timestamptz: read in the zone unless the text names an offset
SELECT id, label::timestamptz AS from_text, at = label::timestamptz AS same FROM events ORDER BY id;
-- a comparison with a string literal (no seconds) reads it the same way
SELECT id FROM events WHERE at > '2024-01-01 09:59' ORDER BY id;
SELECT id FROM events WHERE at = '2024-01-01 10:00' ORDER BY id;
-- timestamp → timestamptz: the wall clock read in the zone (DST included)
SELECT id, local_at::timestamptz AS zoned, at = local_at AS equal_instants FROM events ORDER BY id;
SELECT date '2024-01-01'::timestamptz AS midnight_winter, date '2024-07-01'::timestamptz AS midnight_summer;
-- timestamptz → timestamp: the zone's wall clock
SELECT id, at::timestamp AS wall FROM events ORDER BY id;
-- an untyped string subtracted from a timestamptz is a timestamptz
SELECT id, at - '2024-01-01 00:00' AS since_midnight FROM events ORDER BY id;
SET TimeZone = 'UTC';
SELECT id, at::timestamp AS wall_utc, local_at::timestamptz AS zoned_utc FROM events ORDER BY id;
