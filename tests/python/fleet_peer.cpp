// The C++ side of the mixed-fleet test (mixed_fleet_test.py): reads rows the
// Python ORM wrote, and writes rows for it to read, through the repositories,
// on the database in DATABASE_URL. Prints one "key value..." line per fact.
//
//   fleet_peer read CHANNEL_ID VIDEO_ID FINGERPRINT_HASH
//   fleet_peer write SUFFIX

#include <chrono>
#include <cstdio>
#include <string>

#include "soundhash/db.hpp"

namespace db = soundhash::db;

namespace {

long long epoch_us(db::Timestamp t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             t.time_since_epoch())
      .count();
}

int read(db::Session& s, const std::string& channel_id,
         const std::string& video_id, const std::string& hash) {
  db::VideoRepository videos{s};
  db::JobRepository jobs{s};
  auto ch = videos.get_channel_by_id(channel_id);
  if (!ch) return std::puts("channel none"), 1;
  std::printf("channel %lld %lld %zu\n", static_cast<long long>(ch->id),
              epoch_us(ch->created_at),
              ch->channel_name ? ch->channel_name->size() : 0);
  auto v = videos.get_video_by_id(video_id);
  if (!v) return std::puts("video none"), 1;
  std::printf("video %lld %lld %zu\n", static_cast<long long>(v->id),
              static_cast<long long>(v->channel_id),
              v->title ? v->title->size() : 0);
  auto fps = videos.find_matching_fingerprints(hash);
  std::printf("fingerprints %zu", fps.size());
  for (const auto& f : fps) {
    std::printf(" %lld:%zu", static_cast<long long>(f.id),
                f.fingerprint_data.size());
  }
  std::puts("");
  for (const auto& f : fps) {
    for (const auto& m : videos.get_top_matches(f.id, 10)) {
      std::printf("match %lld %lld %lld %g\n", static_cast<long long>(m.id),
                  static_cast<long long>(m.query_fingerprint_id),
                  static_cast<long long>(m.matched_fingerprint_id),
                  m.similarity_score);
    }
  }
  for (const auto& j : jobs.get_jobs_by_target(video_id)) {
    std::printf("job %lld %s %s %g %lld\n", static_cast<long long>(j.id),
                j.job_type.c_str(), j.status.c_str(), j.progress,
                epoch_us(j.created_at));
  }
  return 0;
}

int write(db::Session& s, const std::string& suffix) {
  db::VideoRepository videos{s};
  db::JobRepository jobs{s};
  auto ch = videos.create_channel("UC-" + suffix, "C++ channel " + suffix);
  auto v = videos.create_video("vid-" + suffix, ch.id, "C++ video " + suffix);
  db::NewFingerprint nf;
  nf.video_id = v.id;
  nf.start_time = 1;
  nf.end_time = 2;
  nf.fingerprint_hash = "hcpp-" + suffix;
  nf.fingerprint_data = {std::byte{1}, std::byte{2}, std::byte{3}};
  auto f = videos.create_fingerprint(nf);
  db::NewMatchResult nm;
  nm.query_fingerprint_id = f.id;
  nm.matched_fingerprint_id = f.id;
  nm.similarity_score = 0.875;
  auto m = videos.create_match_result(nm);
  auto [job, created] =
      jobs.create_job_if_not_exists("video_process", "vid-" + suffix);
  std::printf("wrote %lld %lld %lld %lld %lld %d\n",
              static_cast<long long>(ch.id), static_cast<long long>(v.id),
              static_cast<long long>(f.id), static_cast<long long>(m.id),
              static_cast<long long>(job.id), created ? 1 : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  db::Database database{db::Config::from_env()};
  auto s = database.session();
  if (cmd == "read" && argc == 5) return read(s, argv[2], argv[3], argv[4]);
  if (cmd == "write" && argc == 3) return write(s, argv[2]);
  std::fputs("usage: fleet_peer read CHANNEL VIDEO HASH | write SUFFIX\n",
             stderr);
  return 2;
}
