-- The match benchmark's archive, generated inside the server: :videos videos
-- (one channel) of :per_video fingerprints each, start times 0.5 s apart.
-- Hashes are 16 hex digits, one of :hashes values picked by a hash of the
-- fingerprint's place (deterministic, no pattern across videos), so each
-- occurs about videos * per_video / hashes times, spread over videos.
-- Run with psql -v videos=50000 -v per_video=100 -v hashes=1000003.
INSERT INTO channels (channel_id, channel_name) VALUES ('UC_bench', 'bench');
INSERT INTO videos (video_id, channel_id, title)
SELECT 'bv' || v, (SELECT id FROM channels WHERE channel_id = 'UC_bench'),
       'bench video ' || v
  FROM generate_series(1, :videos) AS v;
INSERT INTO audio_fingerprints (video_id, start_time, end_time,
                                fingerprint_hash, fingerprint_data)
SELECT vid.id, k * 0.5, k * 0.5 + 0.5,
       substr(md5((abs(hashtext(vid.id || ':' || k)) % :hashes)::text), 1, 16),
       '\x0102030405060708'::bytea
  FROM videos AS vid, generate_series(0, :per_video - 1) AS k
 WHERE vid.video_id LIKE 'bv%';
VACUUM (ANALYZE) channels, videos, audio_fingerprints;
