#pragma once
// Channels, videos, fingerprints and matches.
//
//   auto repo = db::video_repository();          // owns its Session
//   auto ch = repo->create_channel("UC123", "Some channel");
//   auto v = repo->create_video("vid123", ch.id, "Title");
//   // commits at scope exit
//
// Every method is one Session call: retried by itself when it is the first
// work of the transaction, run under a savepoint otherwise (see Session).
// Arguments are checked first (InvalidArgument, nothing sent). No method
// commits: the Session owns the unit.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/models.hpp"
#include "soundhash/db/session.hpp"

namespace soundhash::db {

/// Channels, videos, fingerprints and match results. Works in the Session it
/// is given and never commits on its own.
class VideoRepository {
 public:
  /// A repository working in `session`, which must outlive it.
  explicit VideoRepository(Session& session) noexcept : session_(session) {}

  /// The session this repository works in.
  [[nodiscard]] Session& session() const noexcept { return session_; }

  /// Inserts a channel; IntegrityError if `channel_id` exists.
  Channel create_channel(std::string_view channel_id,
                         std::optional<std::string> channel_name = std::nullopt,
                         const ChannelDetails& details = {});
  /// The channel with YouTube id `channel_id`, if any.
  std::optional<Channel> get_channel_by_id(std::string_view channel_id);

  /// Inserts a video of channel `channel_id` (channels.id); IntegrityError if
  /// the channel does not exist or `video_id` exists.
  Video create_video(std::string_view video_id, std::int64_t channel_id,
                     std::optional<std::string> title = std::nullopt,
                     std::optional<std::string> url = std::nullopt,
                     const VideoDetails& details = {});
  /// The video with YouTube id `video_id`, if any.
  std::optional<Video> get_video_by_id(std::string_view video_id);
  /// Up to `limit` (> 0) unprocessed videos, oldest first.
  std::vector<Video> get_unprocessed_videos(int limit = 10);
  /// Marks video `id` (videos.id) processed; on failure records `error`.
  /// Returns false if there is no such video.
  bool mark_video_processed(std::int64_t id, bool success = true,
                            std::optional<std::string> error = std::nullopt);

  /// Inserts one fingerprint.
  AudioFingerprint create_fingerprint(const NewFingerprint& fp);
  /// Inserts many fingerprints with one COPY; returns how many. All are
  /// checked before anything is sent.
  std::int64_t create_fingerprints_batch(std::span<const NewFingerprint> fps);
  /// True if video `video_id` (videos.id) has any fingerprint.
  bool check_fingerprints_exist(std::int64_t video_id);
  /// Fingerprints whose hash equals `hash` (at most `limit`).
  std::vector<AudioFingerprint> find_matching_fingerprints(
      std::string_view hash, int limit = 1000);
  /// find_matching_fingerprints for every hash of `hashes` in one statement
  /// (one round trip): one entry per hash, in order, each with at most
  /// `limit_per_hash` (> 0) fingerprints in id order. A hash is 1 to 64
  /// characters with no NUL (InvalidArgument otherwise, naming its index);
  /// no hashes, no round trip.
  std::vector<std::vector<AudioFingerprint>> find_matching_fingerprints_batch(
      std::span<const std::string> hashes, int limit_per_hash = 1000);

  /// Identifies a clip: up to `limit` (> 0) candidate videos, best first, in
  /// one statement. Every query hash found in a video votes for the offset
  /// at which the clip would start there (fingerprint start_time minus the
  /// hash's offset, rounded to a multiple of `bin_seconds`); a video ranks
  /// by the votes of its fullest offset bin, so it wins where many hashes
  /// line up, not where common hashes merely occur. Ties go to the lower
  /// video id. See docs/guide/match.md. Hashes as in
  /// find_matching_fingerprints_batch; offsets finite and >= 0;
  /// `bin_seconds` finite and > 0. An empty query matches nothing (no round
  /// trip).
  std::vector<MatchCandidate> find_matches(
      std::span<const QueryHash> query, int limit = 10,
      double bin_seconds = MatchCandidate::default_bin_seconds);

  /// Inserts one match result.
  MatchResult create_match_result(const NewMatchResult& m);
  /// Inserts many match results with one COPY; returns how many.
  std::int64_t create_match_results_batch(std::span<const NewMatchResult> ms);
  /// The `limit` best matches of query fingerprint `query_fingerprint_id`.
  std::vector<MatchResult> get_top_matches(std::int64_t query_fingerprint_id,
                                           int limit = 10);

 private:
  Session& session_;
};

}  // namespace soundhash::db
