-- The index of the match path (VideoRepository::find_matches and
-- find_matching_fingerprints_batch, domain/src/sql/matches.hpp). Keyed on
-- (fingerprint_hash, id), it hands out each hash's fingerprints in id order,
-- so a lookup with a per-hash LIMIT stops after LIMIT entries instead of
-- sorting every match of a common hash. Its INCLUDE columns are all the
-- offset vote reads, so find_matches is an index-only scan: no table page is
-- visited for pages the visibility map marks all-visible (vacuumed). It
-- replaces the plain hash index, a prefix of it. Building it blocks writes
-- to audio_fingerprints while the table is read; the old index is dropped
-- last, as dropping takes a lock that blocks reads too.

CREATE INDEX audio_fingerprints_match_idx
  ON audio_fingerprints (fingerprint_hash, id)
  INCLUDE (video_id, start_time);
DROP INDEX audio_fingerprints_hash_idx;
