-- Parity with SoundHash's Python models (src/database/models.py), so its
-- repository layer runs unchanged on this schema while services move one at
-- a time: match_results gains the Python model's response columns, and text
-- columns are at least as wide as the Python schema's. Widening a varchar
-- changes no stored value: the tables are not rewritten.

ALTER TABLE channels
  ALTER COLUMN channel_id   TYPE varchar(255),
  ALTER COLUMN channel_name TYPE varchar(500);

ALTER TABLE videos
  ALTER COLUMN video_id TYPE varchar(255),
  ALTER COLUMN title    TYPE varchar(1000);

ALTER TABLE match_results
  ALTER COLUMN query_url TYPE varchar(1000),
  ADD COLUMN responded        boolean NOT NULL DEFAULT false,
  ADD COLUMN response_sent_at timestamptz;
