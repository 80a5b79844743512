#include "soundhash/db/video_repository.hpp"

#include <cmath>

#include "checks.hpp"
#include "soundhash/db/copy_writer.hpp"
#include "sql/matches.hpp"
#include "sql/videos.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

constexpr std::size_t kMaxHashChars = 64;

void check_fingerprint(std::string_view op, const NewFingerprint& fp) {
  detail::require_key(op, "video_id", fp.video_id);
  detail::require_id(op, "fingerprint_hash", fp.fingerprint_hash);
  detail::require_text(op, "fingerprint_hash", fp.fingerprint_hash);
  detail::require_finite(op, "start_time", fp.start_time, 0, HUGE_VAL);
  detail::require_finite(op, "end_time", fp.end_time, fp.start_time, HUGE_VAL);
  if (fp.confidence_score) {
    detail::require_finite(op, "confidence_score", *fp.confidence_score, 0, 1);
  }
  if (fp.segment_length) {
    detail::require_finite(op, "segment_length", *fp.segment_length, 0,
                           HUGE_VAL);
  }
}

void check_match(std::string_view op, const NewMatchResult& m) {
  detail::require_key(op, "query_fingerprint_id", m.query_fingerprint_id);
  detail::require_key(op, "matched_fingerprint_id", m.matched_fingerprint_id);
  detail::require_finite(op, "similarity_score", m.similarity_score, 0, 1);
  if (m.match_confidence) {
    detail::require_finite(op, "match_confidence", *m.match_confidence, 0, 1);
  }
  if (m.query_source) detail::require_text(op, "query_source", *m.query_source);
  if (m.query_url) detail::require_text(op, "query_url", *m.query_url);
  if (m.query_user) detail::require_text(op, "query_user", *m.query_user);
}

// A hash as audio_fingerprints.fingerprint_hash holds it: 1 to 64
// characters (varchar(64)), no NUL. A longer one could never match; saying so
// beats an empty answer. Characters are counted as UTF-8 code points, as the
// server counts them; bytes that are not UTF-8 fail there (DataError).
void check_query_hash(std::string_view op, std::string_view what,
                      std::size_t index, std::string_view hash) {
  const std::string arg = std::string(what) + "[" + std::to_string(index) + "]";
  detail::require_id(op, arg, hash);
  detail::require_text(op, arg, hash);
  std::size_t chars = 0;
  for (char c : hash) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
  }
  if (chars > kMaxHashChars) {
    throw InvalidArgument(std::string(op) + ": " + arg + " has " +
                          std::to_string(chars) +
                          " characters; a fingerprint hash has at most " +
                          std::to_string(kMaxHashChars));
  }
}

}  // namespace

Channel VideoRepository::create_channel(std::string_view channel_id,
                                        std::optional<std::string> channel_name,
                                        const ChannelDetails& d) {
  detail::require_id("create_channel", "channel_id", channel_id);
  return session_.call("create_channel", [&] {
    return session_
        .execute(sql::kCreateChannel, channel_id, channel_name, d.description,
                 d.subscriber_count, d.video_count)
        .one()
        .as<Channel>();
  });
}

std::optional<Channel> VideoRepository::get_channel_by_id(
    std::string_view channel_id) {
  detail::require_id("get_channel_by_id", "channel_id", channel_id);
  return session_.call("get_channel_by_id", [&]() -> std::optional<Channel> {
    auto r = session_.read(sql::kGetChannelById, channel_id);
    if (r.empty()) return std::nullopt;
    return r[0].as<Channel>();
  });
}

Video VideoRepository::create_video(std::string_view video_id,
                                    std::int64_t channel_id,
                                    std::optional<std::string> title,
                                    std::optional<std::string> url,
                                    const VideoDetails& d) {
  detail::require_id("create_video", "video_id", video_id);
  detail::require_key("create_video", "channel_id", channel_id);
  if (d.duration) {
    detail::require_finite("create_video", "duration", *d.duration, 0,
                           HUGE_VAL);
  }
  return session_.call("create_video", [&] {
    return session_
        .execute(sql::kCreateVideo, video_id, channel_id, title, url,
                 d.description, d.duration, d.view_count, d.like_count,
                 d.upload_date, d.thumbnail_url)
        .one()
        .as<Video>();
  });
}

std::optional<Video> VideoRepository::get_video_by_id(
    std::string_view video_id) {
  detail::require_id("get_video_by_id", "video_id", video_id);
  return session_.call("get_video_by_id", [&]() -> std::optional<Video> {
    auto r = session_.read(sql::kGetVideoById, video_id);
    if (r.empty()) return std::nullopt;
    return r[0].as<Video>();
  });
}

std::vector<Video> VideoRepository::get_unprocessed_videos(int limit) {
  detail::require_limit("get_unprocessed_videos", limit);
  return session_.call("get_unprocessed_videos", [&] {
    return session_.read(sql::kGetUnprocessedVideos, limit).as_vector<Video>();
  });
}

bool VideoRepository::mark_video_processed(std::int64_t id, bool success,
                                           std::optional<std::string> error) {
  detail::require_key("mark_video_processed", "id", id);
  return session_.call("mark_video_processed", [&] {
    return session_.execute(sql::kMarkVideoProcessed, id, success, error)
               .affected_rows() == 1;
  });
}

AudioFingerprint VideoRepository::create_fingerprint(const NewFingerprint& fp) {
  check_fingerprint("create_fingerprint", fp);
  return session_.call("create_fingerprint", [&] {
    return session_
        .execute(sql::kCreateFingerprint, fp.video_id, fp.start_time,
                 fp.end_time, fp.fingerprint_hash, fp.fingerprint_data,
                 fp.confidence_score, fp.peak_count, fp.sample_rate,
                 fp.segment_length)
        .one()
        .as<AudioFingerprint>();
  });
}

std::int64_t VideoRepository::create_fingerprints_batch(
    std::span<const NewFingerprint> fps) {
  for (const auto& fp : fps) check_fingerprint("create_fingerprints_batch", fp);
  if (fps.empty()) return 0;
  CopyWriter copy;
  std::size_t bytes = 32;
  for (const auto& fp : fps) {
    bytes += 80 + fp.fingerprint_hash.size() + fp.fingerprint_data.size();
  }
  copy.reserve(bytes);
  for (const auto& fp : fps) {
    copy.row(9);
    copy.add(fp.video_id);
    copy.add(fp.start_time);
    copy.add(fp.end_time);
    copy.add(fp.fingerprint_hash);
    copy.add(fp.fingerprint_data);
    copy.add(fp.confidence_score);
    copy.add(fp.peak_count);
    copy.add(fp.sample_rate);
    copy.add(fp.segment_length);
  }
  const std::string_view data = copy.finish();
  return session_.call("create_fingerprints_batch", [&] {
    return session_.copy_in(sql::kCopyFingerprints, data);
  });
}

bool VideoRepository::check_fingerprints_exist(std::int64_t video_id) {
  detail::require_key("check_fingerprints_exist", "video_id", video_id);
  return session_.call("check_fingerprints_exist", [&] {
    return session_.read(sql::kFingerprintsExist, video_id).as<bool>();
  });
}

std::vector<AudioFingerprint> VideoRepository::find_matching_fingerprints(
    std::string_view hash, int limit) {
  detail::require_id("find_matching_fingerprints", "hash", hash);
  detail::require_limit("find_matching_fingerprints", limit);
  return session_.call("find_matching_fingerprints", [&] {
    return session_.read(sql::kFindMatchingFingerprints, hash, limit)
        .as_vector<AudioFingerprint>();
  });
}

std::vector<std::vector<AudioFingerprint>>
VideoRepository::find_matching_fingerprints_batch(
    std::span<const std::string> hashes, int limit_per_hash) {
  constexpr std::string_view op = "find_matching_fingerprints_batch";
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    check_query_hash(op, "hashes", i, hashes[i]);
  }
  detail::require_limit(op, limit_per_hash);
  std::vector<std::vector<AudioFingerprint>> out(hashes.size());
  if (hashes.empty()) return out;
  return session_.call(op, [&] {
    for (auto& fps : out) fps.clear();  // a retried call starts over
    const auto rows = session_.read(sql::kFindMatchingFingerprintsBatch, hashes,
                                    limit_per_hash);
    for (const Row& row : rows) {
      const auto ord = row[0].as<std::int64_t>();
      out.at(static_cast<std::size_t>(ord - 1))
          .push_back(row.as<AudioFingerprint>(1));
    }
    return out;
  });
}

std::vector<MatchCandidate> VideoRepository::find_matches(
    std::span<const QueryHash> query, int limit, double bin_seconds) {
  constexpr std::string_view op = "find_matches";
  std::vector<std::string_view> hashes;
  std::vector<double> offsets;
  hashes.reserve(query.size());
  offsets.reserve(query.size());
  for (std::size_t i = 0; i < query.size(); ++i) {
    check_query_hash(op, "query", i, query[i].hash);
    detail::require_finite(op, "query[" + std::to_string(i) + "].offset",
                           query[i].offset, 0, HUGE_VAL);
    hashes.push_back(query[i].hash);
    offsets.push_back(query[i].offset);
  }
  detail::require_limit(op, limit);
  if (!std::isfinite(bin_seconds) || bin_seconds <= 0) {
    throw InvalidArgument(std::string(op) +
                          ": bin_seconds must be a finite number > 0, got " +
                          std::to_string(bin_seconds));
  }
  if (query.empty()) return {};
  return session_.call(op, [&] {
    return session_.read(sql::kFindMatches, hashes, offsets, bin_seconds, limit)
        .as_vector<MatchCandidate>();
  });
}

MatchResult VideoRepository::create_match_result(const NewMatchResult& m) {
  check_match("create_match_result", m);
  return session_.call("create_match_result", [&] {
    return session_
        .execute(sql::kCreateMatchResult, m.query_fingerprint_id,
                 m.matched_fingerprint_id, m.similarity_score,
                 m.match_confidence, m.query_source, m.query_url, m.query_user)
        .one()
        .as<MatchResult>();
  });
}

std::int64_t VideoRepository::create_match_results_batch(
    std::span<const NewMatchResult> ms) {
  for (const auto& m : ms) check_match("create_match_results_batch", m);
  if (ms.empty()) return 0;
  CopyWriter copy;
  for (const auto& m : ms) {
    copy.row(7);
    copy.add(m.query_fingerprint_id);
    copy.add(m.matched_fingerprint_id);
    copy.add(m.similarity_score);
    copy.add(m.match_confidence);
    copy.add(m.query_source);
    copy.add(m.query_url);
    copy.add(m.query_user);
  }
  const std::string_view data = copy.finish();
  return session_.call("create_match_results_batch", [&] {
    return session_.copy_in(sql::kCopyMatchResults, data);
  });
}

std::vector<MatchResult> VideoRepository::get_top_matches(
    std::int64_t query_fingerprint_id, int limit) {
  detail::require_key("get_top_matches", "query_fingerprint_id",
                      query_fingerprint_id);
  detail::require_limit("get_top_matches", limit);
  return session_.call("get_top_matches", [&] {
    return session_.read(sql::kGetTopMatches, query_fingerprint_id, limit)
        .as_vector<MatchResult>();
  });
}

}  // namespace soundhash::db
