#pragma once
// The match path of VideoRepository: many hashes in one statement. Each
// takes the query as arrays, unnested WITH ORDINALITY so that every query
// hash keeps its place (ord, from 1) even when a hash repeats. Both read
// audio_fingerprints_match_idx (migration 10) only: its key (hash, id) gives
// each hash's fingerprints in id order, and its INCLUDE columns give the
// vote's video_id and start_time without visiting the table.

#include <string_view>

namespace soundhash::db::detail::sql {

// $1: hashes (text[]); $2: limit per hash. Per hash, the rows
// find_matching_fingerprints returns for it, tagged with the hash's ord.
inline constexpr std::string_view kFindMatchingFingerprintsBatch = R"sql(
SELECT q.ord, f.id, f.video_id, f.start_time, f.end_time, f.fingerprint_hash,
       f.fingerprint_data, f.confidence_score, f.peak_count, f.sample_rate,
       f.segment_length, f.created_at
  FROM unnest($1::text[]) WITH ORDINALITY AS q (hash, ord)
 CROSS JOIN LATERAL (
         SELECT *
           FROM audio_fingerprints
          WHERE fingerprint_hash = q.hash
          ORDER BY id
          LIMIT $2) AS f
 ORDER BY q.ord, f.id
)sql";

// The offset-histogram vote. $1: hashes (text[]); $2: their offsets in the
// clip, seconds (float8[], same length); $3: bin width, seconds; $4: limit.
// hits: each query hash (ord) that occurs in a video, once per offset bin it
// lands in there (a hash repeated within one bin votes once).
// bins: votes per (video, bin); best: each video's fullest bin (the earliest
// on a tie); found: query hashes occurring in each video at all.
inline constexpr std::string_view kFindMatches = R"sql(
WITH hits AS (
  SELECT DISTINCT f.video_id, q.ord,
         round((f.start_time - q.clip_offset) / $3::float8) AS bin
    FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY
           AS q (hash, clip_offset, ord)
    JOIN audio_fingerprints AS f ON f.fingerprint_hash = q.hash
),
bins AS (
  SELECT video_id, bin, count(*) AS votes
    FROM hits
   GROUP BY video_id, bin
),
best AS (
  SELECT DISTINCT ON (video_id) video_id, bin, votes
    FROM bins
   ORDER BY video_id, votes DESC, bin
),
found AS (
  SELECT video_id, count(DISTINCT ord) AS hashes
    FROM hits
   GROUP BY video_id
)
SELECT best.video_id,
       best.votes AS matched_hashes,
       found.hashes AS hashes_in_video,
       best.bin * $3::float8 AS clip_offset,
       best.votes::float8 / cardinality($1::text[]) AS score
  FROM best
  JOIN found USING (video_id)
 ORDER BY best.votes DESC, best.video_id
 LIMIT $4
)sql";

}  // namespace soundhash::db::detail::sql
