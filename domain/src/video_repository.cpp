#include "soundhash/db/video_repository.hpp"

#include <cmath>

#include "checks.hpp"
#include "copy_binary.hpp"
#include "sql/videos.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

Channel to_channel(const Row& r) {
  Channel c;
  c.id = r[0].as<std::int64_t>();
  c.channel_id = r[1].as<std::string>();
  c.channel_name = r[2].as<std::optional<std::string>>();
  c.description = r[3].as<std::optional<std::string>>();
  c.subscriber_count = r[4].as<std::optional<std::int64_t>>();
  c.video_count = r[5].as<std::optional<std::int64_t>>();
  c.is_active = r[6].as<bool>();
  c.created_at = r[7].as<Timestamp>();
  c.updated_at = r[8].as<Timestamp>();
  c.last_processed = r[9].as<std::optional<Timestamp>>();
  return c;
}

Video to_video(const Row& r) {
  Video v;
  v.id = r[0].as<std::int64_t>();
  v.video_id = r[1].as<std::string>();
  v.channel_id = r[2].as<std::int64_t>();
  v.title = r[3].as<std::optional<std::string>>();
  v.description = r[4].as<std::optional<std::string>>();
  v.duration = r[5].as<std::optional<double>>();
  v.view_count = r[6].as<std::optional<std::int64_t>>();
  v.like_count = r[7].as<std::optional<std::int64_t>>();
  v.upload_date = r[8].as<std::optional<Timestamp>>();
  v.url = r[9].as<std::optional<std::string>>();
  v.thumbnail_url = r[10].as<std::optional<std::string>>();
  v.processed = r[11].as<bool>();
  v.processing_started = r[12].as<std::optional<Timestamp>>();
  v.processing_completed = r[13].as<std::optional<Timestamp>>();
  v.processing_error = r[14].as<std::optional<std::string>>();
  v.created_at = r[15].as<Timestamp>();
  v.updated_at = r[16].as<Timestamp>();
  return v;
}

AudioFingerprint to_fingerprint(const Row& r) {
  AudioFingerprint f;
  f.id = r[0].as<std::int64_t>();
  f.video_id = r[1].as<std::int64_t>();
  f.start_time = r[2].as<double>();
  f.end_time = r[3].as<double>();
  f.fingerprint_hash = r[4].as<std::string>();
  f.fingerprint_data = r[5].as<Bytes>();
  f.confidence_score = r[6].as<std::optional<double>>();
  f.peak_count = r[7].as<std::optional<std::int32_t>>();
  f.sample_rate = r[8].as<std::optional<std::int32_t>>();
  f.segment_length = r[9].as<std::optional<double>>();
  f.created_at = r[10].as<Timestamp>();
  return f;
}

MatchResult to_match(const Row& r) {
  MatchResult m;
  m.id = r[0].as<std::int64_t>();
  m.query_fingerprint_id = r[1].as<std::int64_t>();
  m.matched_fingerprint_id = r[2].as<std::int64_t>();
  m.similarity_score = r[3].as<double>();
  m.match_confidence = r[4].as<std::optional<double>>();
  m.query_source = r[5].as<std::optional<std::string>>();
  m.query_url = r[6].as<std::optional<std::string>>();
  m.query_user = r[7].as<std::optional<std::string>>();
  m.created_at = r[8].as<Timestamp>();
  return m;
}

void check_fingerprint(std::string_view op, const NewFingerprint& fp) {
  detail::require_key(op, "video_id", fp.video_id);
  detail::require_id(op, "fingerprint_hash", fp.fingerprint_hash);
  detail::check_text(fp.fingerprint_hash);
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
  for (const auto* s : {&m.query_source, &m.query_url, &m.query_user}) {
    if (*s) detail::check_text(**s);
  }
}

template <class T, class F>
std::vector<T> map_rows(const Result& r, F f) {
  std::vector<T> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(f(row));
  return out;
}

}  // namespace

Channel VideoRepository::create_channel(std::string_view channel_id,
                                        std::optional<std::string> channel_name,
                                        const ChannelDetails& d) {
  detail::require_id("create_channel", "channel_id", channel_id);
  return session_.call("create_channel", [&] {
    return to_channel(session_
                          .execute(sql::kCreateChannel, channel_id,
                                   channel_name, d.description,
                                   d.subscriber_count, d.video_count)
                          .one());
  });
}

std::optional<Channel> VideoRepository::get_channel_by_id(
    std::string_view channel_id) {
  detail::require_id("get_channel_by_id", "channel_id", channel_id);
  return session_.call("get_channel_by_id", [&]() -> std::optional<Channel> {
    auto r = session_.read(sql::kGetChannelById, channel_id);
    if (r.empty()) return std::nullopt;
    return to_channel(r[0]);
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
    return to_video(session_
                        .execute(sql::kCreateVideo, video_id, channel_id, title,
                                 url, d.description, d.duration, d.view_count,
                                 d.like_count, d.upload_date, d.thumbnail_url)
                        .one());
  });
}

std::optional<Video> VideoRepository::get_video_by_id(
    std::string_view video_id) {
  detail::require_id("get_video_by_id", "video_id", video_id);
  return session_.call("get_video_by_id", [&]() -> std::optional<Video> {
    auto r = session_.read(sql::kGetVideoById, video_id);
    if (r.empty()) return std::nullopt;
    return to_video(r[0]);
  });
}

std::vector<Video> VideoRepository::get_unprocessed_videos(int limit) {
  detail::require_limit("get_unprocessed_videos", limit);
  return session_.call("get_unprocessed_videos", [&] {
    return map_rows<Video>(session_.read(sql::kGetUnprocessedVideos, limit),
                           to_video);
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
    return to_fingerprint(session_
                              .execute(sql::kCreateFingerprint, fp.video_id,
                                       fp.start_time, fp.end_time,
                                       fp.fingerprint_hash, fp.fingerprint_data,
                                       fp.confidence_score, fp.peak_count,
                                       fp.sample_rate, fp.segment_length)
                              .one());
  });
}

std::int64_t VideoRepository::create_fingerprints_batch(
    std::span<const NewFingerprint> fps) {
  for (const auto& fp : fps) check_fingerprint("create_fingerprints_batch", fp);
  if (fps.empty()) return 0;
  detail::CopyBinary copy;
  std::size_t bytes = 32;
  for (const auto& fp : fps) {
    bytes += 80 + fp.fingerprint_hash.size() + fp.fingerprint_data.size();
  }
  copy.reserve(bytes);
  for (const auto& fp : fps) {
    copy.row(9);
    copy.i64(fp.video_id);
    copy.f64(fp.start_time);
    copy.f64(fp.end_time);
    copy.text(fp.fingerprint_hash);
    copy.bytes(fp.fingerprint_data);
    copy.optional(fp.confidence_score, [&](double v) { copy.f64(v); });
    copy.optional(fp.peak_count, [&](std::int32_t v) { copy.i32(v); });
    copy.optional(fp.sample_rate, [&](std::int32_t v) { copy.i32(v); });
    copy.optional(fp.segment_length, [&](double v) { copy.f64(v); });
  }
  const std::string_view data = copy.finish();
  return session_.call("create_fingerprints_batch", [&] {
    return session_.copy_in(sql::kCopyFingerprints, data);
  });
}

bool VideoRepository::check_fingerprints_exist(std::int64_t video_id) {
  detail::require_key("check_fingerprints_exist", "video_id", video_id);
  return session_.call("check_fingerprints_exist", [&] {
    return session_.read(sql::kFingerprintsExist, video_id).one()[0].as<bool>();
  });
}

std::vector<AudioFingerprint> VideoRepository::find_matching_fingerprints(
    std::string_view hash, int limit) {
  detail::require_id("find_matching_fingerprints", "hash", hash);
  detail::require_limit("find_matching_fingerprints", limit);
  return session_.call("find_matching_fingerprints", [&] {
    return map_rows<AudioFingerprint>(
        session_.read(sql::kFindMatchingFingerprints, hash, limit),
        to_fingerprint);
  });
}

MatchResult VideoRepository::create_match_result(const NewMatchResult& m) {
  check_match("create_match_result", m);
  return session_.call("create_match_result", [&] {
    return to_match(session_
                        .execute(sql::kCreateMatchResult,
                                 m.query_fingerprint_id,
                                 m.matched_fingerprint_id, m.similarity_score,
                                 m.match_confidence, m.query_source,
                                 m.query_url, m.query_user)
                        .one());
  });
}

std::int64_t VideoRepository::create_match_results_batch(
    std::span<const NewMatchResult> ms) {
  for (const auto& m : ms) check_match("create_match_results_batch", m);
  if (ms.empty()) return 0;
  detail::CopyBinary copy;
  auto text = [&](const std::string& s) { copy.text(s); };
  for (const auto& m : ms) {
    copy.row(7);
    copy.i64(m.query_fingerprint_id);
    copy.i64(m.matched_fingerprint_id);
    copy.f64(m.similarity_score);
    copy.optional(m.match_confidence, [&](double v) { copy.f64(v); });
    copy.optional(m.query_source, text);
    copy.optional(m.query_url, text);
    copy.optional(m.query_user, text);
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
    return map_rows<MatchResult>(
        session_.read(sql::kGetTopMatches, query_fingerprint_id, limit),
        to_match);
  });
}

}  // namespace soundhash::db
