#pragma once
// Plain structs for SoundHash's rows. Nullable columns are std::optional;
// timestamps are Timestamp (std::chrono::system_clock::time_point).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "soundhash/db/types.hpp"

namespace soundhash::db {

/// A YouTube channel (table `channels`).
struct Channel {
  std::int64_t id = 0;
  std::string channel_id;  ///< YouTube's id, unique
  std::optional<std::string> channel_name;
  std::optional<std::string> description;
  std::optional<std::int64_t> subscriber_count;
  std::optional<std::int64_t> video_count;
  bool is_active = true;
  Timestamp created_at{};
  Timestamp updated_at{};
  std::optional<Timestamp> last_processed;
};

/// Optional fields of a new channel.
struct ChannelDetails {
  std::optional<std::string> description;
  std::optional<std::int64_t> subscriber_count;
  std::optional<std::int64_t> video_count;
};

/// A video of a channel (table `videos`).
struct Video {
  std::int64_t id = 0;
  std::string video_id;     ///< YouTube's id, unique
  std::int64_t channel_id = 0;  ///< channels.id
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<double> duration;  ///< seconds
  std::optional<std::int64_t> view_count;
  std::optional<std::int64_t> like_count;
  std::optional<Timestamp> upload_date;
  std::optional<std::string> url;
  std::optional<std::string> thumbnail_url;
  bool processed = false;
  std::optional<Timestamp> processing_started;
  std::optional<Timestamp> processing_completed;
  std::optional<std::string> processing_error;
  Timestamp created_at{};
  Timestamp updated_at{};
};

/// Optional fields of a new video.
struct VideoDetails {
  std::optional<std::string> description;
  std::optional<double> duration;
  std::optional<std::int64_t> view_count;
  std::optional<std::int64_t> like_count;
  std::optional<Timestamp> upload_date;
  std::optional<std::string> thumbnail_url;
};

/// A fingerprint to store (input of create_fingerprint / _batch).
struct NewFingerprint {
  std::int64_t video_id = 0;  ///< videos.id
  double start_time = 0;      ///< seconds into the video
  double end_time = 0;
  std::string fingerprint_hash;
  Bytes fingerprint_data;
  std::optional<double> confidence_score;  ///< in [0, 1]
  std::optional<std::int32_t> peak_count;
  std::optional<std::int32_t> sample_rate;
  std::optional<double> segment_length;
};

/// A stored fingerprint (table `audio_fingerprints`).
struct AudioFingerprint {
  std::int64_t id = 0;
  std::int64_t video_id = 0;
  double start_time = 0;
  double end_time = 0;
  std::string fingerprint_hash;
  Bytes fingerprint_data;
  std::optional<double> confidence_score;
  std::optional<std::int32_t> peak_count;
  std::optional<std::int32_t> sample_rate;
  std::optional<double> segment_length;
  Timestamp created_at{};
};

/// A match to store (input of create_match_result / _batch).
struct NewMatchResult {
  std::int64_t query_fingerprint_id = 0;
  std::int64_t matched_fingerprint_id = 0;
  double similarity_score = 0;             ///< in [0, 1]
  std::optional<double> match_confidence;  ///< in [0, 1]
  std::optional<std::string> query_source;
  std::optional<std::string> query_url;
  std::optional<std::string> query_user;
};

/// A stored match (table `match_results`).
struct MatchResult {
  std::int64_t id = 0;
  std::int64_t query_fingerprint_id = 0;
  std::int64_t matched_fingerprint_id = 0;
  double similarity_score = 0;
  std::optional<double> match_confidence;
  std::optional<std::string> query_source;
  std::optional<std::string> query_url;
  std::optional<std::string> query_user;
  Timestamp created_at{};
};

/// Job statuses the schema allows.
namespace job_status {
inline constexpr std::string_view pending = "pending";
inline constexpr std::string_view running = "running";
inline constexpr std::string_view completed = "completed";
inline constexpr std::string_view failed = "failed";
inline constexpr std::string_view cancelled = "cancelled";
inline constexpr std::array<std::string_view, 5> all = {
    pending, running, completed, failed, cancelled};
/// True if `s` is one of `all`.
constexpr bool is_valid(std::string_view s) noexcept {
  for (auto v : all) {
    if (v == s) return true;
  }
  return false;
}
}  // namespace job_status

/// A processing job (table `processing_jobs`).
struct ProcessingJob {
  std::int64_t id = 0;
  std::string job_type;
  std::string status;
  std::string target_id;
  std::optional<std::string> parameters;  ///< usually JSON
  double progress = 0;                    ///< percent, 0..100
  std::optional<std::string> current_step;
  Timestamp created_at{};
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> completed_at;
  std::optional<std::string> error_message;
  std::int32_t retry_count = 0;
  std::int32_t max_retries = 3;
};

}  // namespace soundhash::db
