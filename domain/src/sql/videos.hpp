#pragma once
// The statements of VideoRepository. Column lists are in table order, the
// order the models' fields are read in.

#include <string_view>

namespace soundhash::db::detail::sql {

inline constexpr std::string_view kCreateChannel = R"sql(
INSERT INTO channels (channel_id, channel_name, description, subscriber_count,
                      video_count)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, channel_id, channel_name, description, subscriber_count,
          video_count, is_active, created_at, updated_at, last_processed
)sql";

inline constexpr std::string_view kGetChannelById = R"sql(
SELECT id, channel_id, channel_name, description, subscriber_count,
       video_count, is_active, created_at, updated_at, last_processed
  FROM channels
 WHERE channel_id = $1
)sql";

inline constexpr std::string_view kCreateVideo = R"sql(
INSERT INTO videos (video_id, channel_id, title, url, description, duration,
                    view_count, like_count, upload_date, thumbnail_url)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id, video_id, channel_id, title, description, duration, view_count,
          like_count, upload_date, url, thumbnail_url, processed,
          processing_started, processing_completed, processing_error,
          created_at, updated_at
)sql";

inline constexpr std::string_view kGetVideoById = R"sql(
SELECT id, video_id, channel_id, title, description, duration, view_count,
       like_count, upload_date, url, thumbnail_url, processed,
       processing_started, processing_completed, processing_error,
       created_at, updated_at
  FROM videos
 WHERE video_id = $1
)sql";

// In the order of the partial index of unprocessed videos.
inline constexpr std::string_view kGetUnprocessedVideos = R"sql(
SELECT id, video_id, channel_id, title, description, duration, view_count,
       like_count, upload_date, url, thumbnail_url, processed,
       processing_started, processing_completed, processing_error,
       created_at, updated_at
  FROM videos
 WHERE NOT processed
 ORDER BY created_at, id
 LIMIT $1
)sql";

// $2: success; $3: the error, kept only on failure.
inline constexpr std::string_view kMarkVideoProcessed = R"sql(
UPDATE videos
   SET processed = true, processing_completed = now(), updated_at = now(),
       processing_error = CASE WHEN $2 THEN NULL ELSE $3 END
 WHERE id = $1
)sql";

inline constexpr std::string_view kCreateFingerprint = R"sql(
INSERT INTO audio_fingerprints (video_id, start_time, end_time,
                                fingerprint_hash, fingerprint_data,
                                confidence_score, peak_count, sample_rate,
                                segment_length)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id, video_id, start_time, end_time, fingerprint_hash,
          fingerprint_data, confidence_score, peak_count, sample_rate,
          segment_length, created_at
)sql";

// The columns in the order create_fingerprints_batch writes each row.
inline constexpr std::string_view kCopyFingerprints = R"sql(
COPY audio_fingerprints (video_id, start_time, end_time, fingerprint_hash,
                         fingerprint_data, confidence_score, peak_count,
                         sample_rate, segment_length)
FROM STDIN (FORMAT binary)
)sql";

inline constexpr std::string_view kFingerprintsExist = R"sql(
SELECT EXISTS (SELECT 1 FROM audio_fingerprints WHERE video_id = $1)
)sql";

inline constexpr std::string_view kFindMatchingFingerprints = R"sql(
SELECT id, video_id, start_time, end_time, fingerprint_hash, fingerprint_data,
       confidence_score, peak_count, sample_rate, segment_length, created_at
  FROM audio_fingerprints
 WHERE fingerprint_hash = $1
 ORDER BY id
 LIMIT $2
)sql";

inline constexpr std::string_view kCreateMatchResult = R"sql(
INSERT INTO match_results (query_fingerprint_id, matched_fingerprint_id,
                           similarity_score, match_confidence, query_source,
                           query_url, query_user)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, query_fingerprint_id, matched_fingerprint_id, similarity_score,
          match_confidence, query_source, query_url, query_user, created_at,
          responded, response_sent_at
)sql";

// The columns in the order create_match_results_batch writes each row.
inline constexpr std::string_view kCopyMatchResults = R"sql(
COPY match_results (query_fingerprint_id, matched_fingerprint_id,
                    similarity_score, match_confidence, query_source,
                    query_url, query_user)
FROM STDIN (FORMAT binary)
)sql";

inline constexpr std::string_view kGetTopMatches = R"sql(
SELECT id, query_fingerprint_id, matched_fingerprint_id, similarity_score,
       match_confidence, query_source, query_url, query_user, created_at,
       responded, response_sent_at
  FROM match_results
 WHERE query_fingerprint_id = $1
 ORDER BY similarity_score DESC, id
 LIMIT $2
)sql";

}  // namespace soundhash::db::detail::sql
