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
// bins: votes per (video, bin); top: the `limit` videos whose fullest bin
// has the most votes. Only for those few does `found` count the query
// hashes occurring in the video at all, and `aligned` pick the fullest bin
// (the earliest on a tie): every step over all candidates is a hash
// aggregate, none a sort.
inline constexpr std::string_view kFindMatches = R"sql(
WITH hits AS MATERIALIZED (
  SELECT DISTINCT f.video_id, q.ord,
         round((f.start_time - q.clip_offset) / $3::float8) AS bin
    FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY
           AS q (hash, clip_offset, ord)
    JOIN audio_fingerprints AS f ON f.fingerprint_hash = q.hash
),
bins AS MATERIALIZED (
  SELECT video_id, bin, count(*) AS votes
    FROM hits
   GROUP BY video_id, bin
),
top AS MATERIALIZED (
  SELECT video_id, max(votes) AS votes
    FROM bins
   GROUP BY video_id
   ORDER BY votes DESC, video_id
   LIMIT $4
),
found AS (
  SELECT hits.video_id, count(DISTINCT hits.ord) AS hashes
    FROM hits
    JOIN top USING (video_id)
   GROUP BY hits.video_id
),
aligned AS (
  SELECT bins.video_id, min(bins.bin) AS bin
    FROM bins
    JOIN top ON top.video_id = bins.video_id AND top.votes = bins.votes
   GROUP BY bins.video_id
)
SELECT top.video_id,
       top.votes AS matched_hashes,
       found.hashes AS hashes_in_video,
       aligned.bin * $3::float8 AS clip_offset,
       top.votes::float8 / cardinality($1::text[]) AS score
  FROM top
  JOIN found USING (video_id)
  JOIN aligned USING (video_id)
 ORDER BY top.votes DESC, top.video_id
)sql";

}  // namespace soundhash::db::detail::sql
