#pragma once
// Plain structs for SoundHash's rows. Nullable columns are std::optional;
// timestamps are Timestamp (std::chrono::system_clock::time_point). Each
// stored model's columns are listed once, in its row_traits at the end:
// `row.as<Video>()` reads them by position in that order.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "soundhash/db/result.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db {

/// A YouTube channel (table `channels`).
struct Channel {
  /// Primary key (channels.id); what Video::channel_id refers to.
  std::int64_t id = 0;
  std::string channel_id;  ///< YouTube's id, unique
  /// Display name (at most 500 characters).
  std::optional<std::string> channel_name;
  /// Channel description.
  std::optional<std::string> description;
  /// Subscriber count, >= 0.
  std::optional<std::int64_t> subscriber_count;
  /// Number of videos, >= 0.
  std::optional<std::int64_t> video_count;
  /// Whether the channel is still ingested.
  bool is_active = true;
  /// When the row was inserted.
  Timestamp created_at{};
  /// When the row was last changed.
  Timestamp updated_at{};
  /// When the channel was last processed, if ever.
  std::optional<Timestamp> last_processed;
};

/// Optional fields of a new channel.
struct ChannelDetails {
  /// Channel description.
  std::optional<std::string> description;
  /// Subscriber count, >= 0.
  std::optional<std::int64_t> subscriber_count;
  /// Number of videos, >= 0.
  std::optional<std::int64_t> video_count;
};

/// A video of a channel (table `videos`).
struct Video {
  /// Primary key (videos.id); what fingerprints refer to.
  std::int64_t id = 0;
  std::string video_id;         ///< YouTube's id, unique
  std::int64_t channel_id = 0;  ///< channels.id
  /// Title (at most 1000 characters).
  std::optional<std::string> title;
  /// Video description.
  std::optional<std::string> description;
  std::optional<double> duration;  ///< seconds
  /// View count, >= 0.
  std::optional<std::int64_t> view_count;
  /// Like count, >= 0.
  std::optional<std::int64_t> like_count;
  /// When the video was published.
  std::optional<Timestamp> upload_date;
  /// The video's URL (at most 500 characters).
  std::optional<std::string> url;
  /// Thumbnail URL (at most 500 characters).
  std::optional<std::string> thumbnail_url;
  /// Set by VideoRepository::mark_video_processed (on success or failure).
  bool processed = false;
  /// When processing started, if recorded.
  std::optional<Timestamp> processing_started;
  /// When mark_video_processed was called.
  std::optional<Timestamp> processing_completed;
  /// Why processing failed; empty after a success.
  std::optional<std::string> processing_error;
  /// When the row was inserted.
  Timestamp created_at{};
  /// When the row was last changed.
  Timestamp updated_at{};
};

/// Optional fields of a new video.
struct VideoDetails {
  /// Video description.
  std::optional<std::string> description;
  /// Length in seconds, >= 0.
  std::optional<double> duration;
  /// View count, >= 0.
  std::optional<std::int64_t> view_count;
  /// Like count, >= 0.
  std::optional<std::int64_t> like_count;
  /// When the video was published.
  std::optional<Timestamp> upload_date;
  /// Thumbnail URL (at most 500 characters).
  std::optional<std::string> thumbnail_url;
};

/// A fingerprint to store (input of create_fingerprint / _batch).
struct NewFingerprint {
  std::int64_t video_id = 0;  ///< videos.id
  double start_time = 0;      ///< seconds into the video
  /// End of the segment, seconds into the video; >= start_time.
  double end_time = 0;
  /// The hash that matching looks up (at most 64 characters).
  std::string fingerprint_hash;
  /// The fingerprint itself (bytea).
  Bytes fingerprint_data;
  std::optional<double> confidence_score;  ///< in [0, 1]
  /// Number of spectral peaks, >= 0.
  std::optional<std::int32_t> peak_count;
  /// Sample rate of the analysed audio in Hz, > 0.
  std::optional<std::int32_t> sample_rate;
  /// Segment length in seconds, > 0.
  std::optional<double> segment_length;
};

/// A stored fingerprint (table `audio_fingerprints`).
struct AudioFingerprint {
  /// Primary key (audio_fingerprints.id).
  std::int64_t id = 0;
  /// The video it belongs to (videos.id).
  std::int64_t video_id = 0;
  /// Start of the segment, seconds into the video.
  double start_time = 0;
  /// End of the segment, seconds into the video.
  double end_time = 0;
  /// The hash that matching looks up.
  std::string fingerprint_hash;
  /// The fingerprint itself (bytea).
  Bytes fingerprint_data;
  /// Confidence in [0, 1].
  std::optional<double> confidence_score;
  /// Number of spectral peaks.
  std::optional<std::int32_t> peak_count;
  /// Sample rate of the analysed audio in Hz.
  std::optional<std::int32_t> sample_rate;
  /// Segment length in seconds.
  std::optional<double> segment_length;
  /// When the row was inserted.
  Timestamp created_at{};
};

/// A match to store (input of create_match_result / _batch).
struct NewMatchResult {
  /// The fingerprint that was looked up (audio_fingerprints.id).
  std::int64_t query_fingerprint_id = 0;
  /// The stored fingerprint it matched (audio_fingerprints.id).
  std::int64_t matched_fingerprint_id = 0;
  double similarity_score = 0;             ///< in [0, 1]
  std::optional<double> match_confidence;  ///< in [0, 1]
  /// Where the query came from (at most 50 characters).
  std::optional<std::string> query_source;
  /// URL of the queried audio (at most 1000 characters).
  std::optional<std::string> query_url;
  /// Who asked (at most 100 characters).
  std::optional<std::string> query_user;
};

/// A stored match (table `match_results`).
struct MatchResult {
  /// Primary key (match_results.id).
  std::int64_t id = 0;
  /// The fingerprint that was looked up (audio_fingerprints.id).
  std::int64_t query_fingerprint_id = 0;
  /// The stored fingerprint it matched (audio_fingerprints.id).
  std::int64_t matched_fingerprint_id = 0;
  /// Similarity in [0, 1]; get_top_matches orders by it, highest first.
  double similarity_score = 0;
  /// Confidence in [0, 1].
  std::optional<double> match_confidence;
  /// Where the query came from.
  std::optional<std::string> query_source;
  /// URL of the queried audio.
  std::optional<std::string> query_url;
  /// Who asked.
  std::optional<std::string> query_user;
  /// When the row was inserted.
  Timestamp created_at{};
  /// Whether the asker was answered (SoundHash's Python services set it).
  bool responded = false;
  /// When the answer was sent, if it was.
  std::optional<Timestamp> response_sent_at;
};

/// Job statuses the schema allows.
namespace job_status {
/// Created, not yet picked up (the status of a new job).
inline constexpr std::string_view pending = "pending";
/// Being worked on.
inline constexpr std::string_view running = "running";
/// Finished successfully.
inline constexpr std::string_view completed = "completed";
/// Finished with an error.
inline constexpr std::string_view failed = "failed";
/// Stopped before it finished.
inline constexpr std::string_view cancelled = "cancelled";
/// Every allowed status.
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
  /// Primary key (processing_jobs.id).
  std::int64_t id = 0;
  /// What kind of work, e.g. "video_process" (at most 50 characters).
  std::string job_type;
  /// One of job_status::all.
  std::string status;
  /// What the job works on, e.g. a YouTube video id (at most 255 characters).
  std::string target_id;
  std::optional<std::string> parameters;  ///< usually JSON
  double progress = 0;                    ///< percent, 0..100
  /// Free-form description of the current step.
  std::optional<std::string> current_step;
  /// When the job was created.
  Timestamp created_at{};
  /// When the job last started running: each claim sets it
  /// (update_job_status keeps the first).
  std::optional<Timestamp> started_at;
  /// When the job last moved to completed, failed or cancelled.
  std::optional<Timestamp> completed_at;
  /// Why the job failed, if it did.
  std::optional<std::string> error_message;
  /// How many times the job went back to pending after a failure
  /// (JobRepository::fail_job, rescue_stale_jobs, or `soundhash-db jobs
  /// retry`). Not database retries.
  std::int32_t retry_count = 0;
  /// How many times the job may go back to pending after a failure; past
  /// that, a failure is final (status failed).
  std::int32_t max_retries = 3;
  /// Lower runs first (claim order: priority, then run_at, then id).
  std::int32_t priority = 0;
  /// The job is not claimed before this time (pushed out by fail_job's
  /// backoff).
  Timestamp run_at{};
  /// How many times a worker claimed the job.
  std::int32_t attempts = 0;
  /// The worker that claimed the job last (kept after it finishes, cleared
  /// when the job goes back to pending).
  std::optional<std::string> locked_by;
  /// The running job's last sign of life (claim or heartbeat).
  std::optional<Timestamp> heartbeat_at;
  /// How long one attempt may run, in milliseconds (NewJob::timeout);
  /// nullopt: no limit.
  std::optional<std::int64_t> timeout_ms;
  /// The last 20 failed attempts as JSON text (a jsonb array, oldest
  /// first); JobRepository::get_job_errors reads them as JobAttemptErrors.
  std::string errors = "[]";
  /// The key its type's per-key concurrency limit counts by
  /// (NewJob::concurrency_key); nullopt: none.
  std::optional<std::string> concurrency_key;
};

/// A job to create (input of JobRepository::create_job / create_jobs_batch).
struct NewJob {
  /// What kind of work, e.g. "video_process" (at most 50 characters).
  std::string job_type;
  /// What the job works on (at most 255 characters).
  std::string target_id;
  std::optional<std::string> parameters;  ///< usually JSON
  /// Lower runs first.
  std::int32_t priority = 0;
  /// How many times the job may go back to pending after a failure (>= 0).
  std::int32_t max_retries = 3;
  /// Not claimed before now() + delay (server clock), >= 0.
  std::chrono::milliseconds delay{0};
  /// How long one attempt may run (> 0); nullopt: no limit. An attempt that
  /// runs longer fails with a timeout error at its next heartbeat, through
  /// the retry budget (docs/guide/queue.md, "Timeouts").
  std::optional<std::chrono::milliseconds> timeout;
  /// What a per-key concurrency limit of the type counts by, e.g. the
  /// channel of a download (JobRepository::set_key_limit): at most that many
  /// jobs of the type with one key run at once. 1 to 255 bytes;
  /// nullopt: no key, no per-key limit (docs/guide/queue.md, "Concurrency
  /// limits").
  std::optional<std::string> concurrency_key;
};

/// Channel's columns, in table order.
template <>
struct row_traits<Channel> {
  /// {column, member} pairs.
  static constexpr auto columns =
      std::tuple{column("id", &Channel::id),
                 column("channel_id", &Channel::channel_id),
                 column("channel_name", &Channel::channel_name),
                 column("description", &Channel::description),
                 column("subscriber_count", &Channel::subscriber_count),
                 column("video_count", &Channel::video_count),
                 column("is_active", &Channel::is_active),
                 column("created_at", &Channel::created_at),
                 column("updated_at", &Channel::updated_at),
                 column("last_processed", &Channel::last_processed)};
};

/// Video's columns, in table order.
template <>
struct row_traits<Video> {
  /// {column, member} pairs.
  static constexpr auto columns =
      std::tuple{column("id", &Video::id),
                 column("video_id", &Video::video_id),
                 column("channel_id", &Video::channel_id),
                 column("title", &Video::title),
                 column("description", &Video::description),
                 column("duration", &Video::duration),
                 column("view_count", &Video::view_count),
                 column("like_count", &Video::like_count),
                 column("upload_date", &Video::upload_date),
                 column("url", &Video::url),
                 column("thumbnail_url", &Video::thumbnail_url),
                 column("processed", &Video::processed),
                 column("processing_started", &Video::processing_started),
                 column("processing_completed", &Video::processing_completed),
                 column("processing_error", &Video::processing_error),
                 column("created_at", &Video::created_at),
                 column("updated_at", &Video::updated_at)};
};

/// AudioFingerprint's columns, in table order.
template <>
struct row_traits<AudioFingerprint> {
  /// {column, member} pairs.
  static constexpr auto columns = std::tuple{
      column("id", &AudioFingerprint::id),
      column("video_id", &AudioFingerprint::video_id),
      column("start_time", &AudioFingerprint::start_time),
      column("end_time", &AudioFingerprint::end_time),
      column("fingerprint_hash", &AudioFingerprint::fingerprint_hash),
      column("fingerprint_data", &AudioFingerprint::fingerprint_data),
      column("confidence_score", &AudioFingerprint::confidence_score),
      column("peak_count", &AudioFingerprint::peak_count),
      column("sample_rate", &AudioFingerprint::sample_rate),
      column("segment_length", &AudioFingerprint::segment_length),
      column("created_at", &AudioFingerprint::created_at)};
};

/// MatchResult's columns, in table order.
template <>
struct row_traits<MatchResult> {
  /// {column, member} pairs.
  static constexpr auto columns = std::tuple{
      column("id", &MatchResult::id),
      column("query_fingerprint_id", &MatchResult::query_fingerprint_id),
      column("matched_fingerprint_id", &MatchResult::matched_fingerprint_id),
      column("similarity_score", &MatchResult::similarity_score),
      column("match_confidence", &MatchResult::match_confidence),
      column("query_source", &MatchResult::query_source),
      column("query_url", &MatchResult::query_url),
      column("query_user", &MatchResult::query_user),
      column("created_at", &MatchResult::created_at),
      column("responded", &MatchResult::responded),
      column("response_sent_at", &MatchResult::response_sent_at)};
};

/// ProcessingJob's columns, in table order, so that a statement selecting a
/// whole processing_jobs row yields them in this order. Queries put them at
/// the end of their rows (read from column `first` on): columns a later
/// migration adds then only trail what is read.
template <>
struct row_traits<ProcessingJob> {
  /// {column, member} pairs.
  static constexpr auto columns =
      std::tuple{column("id", &ProcessingJob::id),
                 column("job_type", &ProcessingJob::job_type),
                 column("status", &ProcessingJob::status),
                 column("target_id", &ProcessingJob::target_id),
                 column("parameters", &ProcessingJob::parameters),
                 column("progress", &ProcessingJob::progress),
                 column("current_step", &ProcessingJob::current_step),
                 column("created_at", &ProcessingJob::created_at),
                 column("started_at", &ProcessingJob::started_at),
                 column("completed_at", &ProcessingJob::completed_at),
                 column("error_message", &ProcessingJob::error_message),
                 column("retry_count", &ProcessingJob::retry_count),
                 column("max_retries", &ProcessingJob::max_retries),
                 column("priority", &ProcessingJob::priority),
                 column("run_at", &ProcessingJob::run_at),
                 column("attempts", &ProcessingJob::attempts),
                 column("locked_by", &ProcessingJob::locked_by),
                 column("heartbeat_at", &ProcessingJob::heartbeat_at),
                 column("timeout_ms", &ProcessingJob::timeout_ms),
                 column("errors", &ProcessingJob::errors),
                 column("concurrency_key", &ProcessingJob::concurrency_key)};
};

// --- clip identification (VideoRepository::find_matches) -------------------

/// One hash of a query clip: what find_matches looks up.
struct QueryHash {
  /// The fingerprint hash, in the form stored in
  /// audio_fingerprints.fingerprint_hash (1 to 64 characters, no NUL).
  std::string hash;
  /// Where the hash occurs in the clip, in seconds (>= 0).
  double offset = 0;
};

/// A video a query clip may come from, as ranked by find_matches.
struct MatchCandidate {
  /// Default width of the offset bins the vote counts in, in seconds.
  static constexpr double default_bin_seconds = 0.1;

  /// The video (videos.id).
  std::int64_t video_id = 0;
  /// Query hashes that line up at `offset`: the vote, and the rank.
  std::int64_t matched_hashes = 0;
  /// Query hashes found anywhere in the video, lined up or not (>=
  /// matched_hashes).
  std::int64_t hashes_in_video = 0;
  /// Where the clip starts in the video, in seconds: fingerprint start_time
  /// minus query offset, rounded to a multiple of the bin width. May be
  /// negative when the clip begins before the video does.
  double offset = 0;
  /// matched_hashes divided by the number of query hashes, in (0, 1].
  double score = 0;
};

/// MatchCandidate's columns, in the order find_matches selects them.
template <>
struct row_traits<MatchCandidate> {
  /// {column, member} pairs.
  static constexpr auto columns =
      std::tuple{column("video_id", &MatchCandidate::video_id),
                 column("matched_hashes", &MatchCandidate::matched_hashes),
                 column("hashes_in_video", &MatchCandidate::hashes_in_video),
                 column("clip_offset", &MatchCandidate::offset),
                 column("score", &MatchCandidate::score)};
};

/// One failed attempt of a job, as its error history keeps it
/// (JobRepository::get_job_errors; the last 20 per job).
struct JobAttemptError {
  /// Which attempt failed (ProcessingJob::attempts at the time).
  std::int32_t attempt = 0;
  /// The error: what the handler threw, or why the queue ended the attempt
  /// (a timeout, a rescue after missed heartbeats).
  std::string message;
  /// The worker that ran the attempt, if known.
  std::optional<std::string> worker;
  /// When the attempt failed (server clock).
  Timestamp at{};
};

/// JobAttemptError's columns, as get_job_errors reads them.
template <>
struct row_traits<JobAttemptError> {
  /// {column, member} pairs.
  static constexpr auto columns =
      std::tuple{column("attempt", &JobAttemptError::attempt),
                 column("message", &JobAttemptError::message),
                 column("worker", &JobAttemptError::worker),
                 column("at", &JobAttemptError::at)};
};

}  // namespace soundhash::db
