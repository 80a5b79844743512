// Identifying a clip: an archive of many videos is fingerprinted; a clip is
// cut from one of them at a known offset, loses some of its hashes and gains
// noise (as a recording off a loudspeaker would); find_matches names the
// video and the offset in one statement.
//
//   match_service [--videos N]
//
// Reads DATABASE_URL. Exits 1 if the clip is not identified.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <soundhash/db.hpp>
#include <string>
#include <vector>

namespace db = soundhash::db;

namespace {

constexpr int kFingerprintsPerVideo = 240;  // one every 0.5 s: two minutes
constexpr int kHashValues = 50'000;         // so many hashes repeat
constexpr double kClipFrom = 42.0;          // seconds into the video
constexpr double kClipLength = 15.0;

std::string hash_of(int value) { return "fp" + std::to_string(value); }

// The archive: `videos` videos of random hashes. Returns their videos.ids.
std::vector<std::int64_t> seed_archive(db::Database& database, int videos,
                                       std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, kHashValues - 1);
  return database.transact([&](db::Session& s) {
    db::VideoRepository repo{s};
    auto channel = repo.get_channel_by_id("UC_match_example");
    const auto channel_id =
        channel ? channel->id
                : repo.create_channel("UC_match_example", "Match example").id;
    std::vector<std::int64_t> ids;
    std::vector<db::NewFingerprint> fps;
    for (int v = 0; v < videos; ++v) {
      const auto name = "match_example_" + std::to_string(v);
      auto video = repo.get_video_by_id(name);
      ids.push_back(video ? video->id
                          : repo.create_video(name, channel_id, name).id);
      if (video) continue;  // fingerprinted by an earlier run
      for (int k = 0; k < kFingerprintsPerVideo; ++k) {
        db::NewFingerprint f;
        f.video_id = ids.back();
        f.start_time = k * 0.5;
        f.end_time = f.start_time + 0.5;
        f.fingerprint_hash = hash_of(pick(rng));
        f.fingerprint_data = db::Bytes{std::byte{1}};
        fps.push_back(std::move(f));
      }
    }
    repo.create_fingerprints_batch(fps);  // one COPY
    return ids;
  });
}

// The clip as the matcher would hash it: the source's hashes between
// kClipFrom and kClipFrom + kClipLength, offsets relative to the clip (with
// a little timing jitter), 30% of them lost, 40 noise hashes added.
std::vector<db::QueryHash> cut_clip(db::Database& database, std::int64_t source,
                                    std::mt19937& rng) {
  std::vector<db::AudioFingerprint> all;
  database.transact([&](db::Session& s) {
    all = s.read(
               "SELECT * FROM audio_fingerprints WHERE video_id = $1 "
               "ORDER BY start_time",
               source)
              .as_vector<db::AudioFingerprint>();
  });
  std::bernoulli_distribution lost(0.3);
  std::uniform_real_distribution<double> jitter(-0.02, 0.02);
  std::vector<db::QueryHash> clip;
  for (const auto& f : all) {
    if (f.start_time < kClipFrom || f.start_time >= kClipFrom + kClipLength ||
        lost(rng)) {
      continue;
    }
    clip.push_back({f.fingerprint_hash,
                    std::max(0.0, f.start_time - kClipFrom + jitter(rng))});
  }
  std::uniform_int_distribution<int> pick(0, kHashValues - 1);
  std::uniform_real_distribution<double> at(0, kClipLength);
  for (int i = 0; i < 40; ++i) clip.push_back({hash_of(pick(rng)), at(rng)});
  return clip;
}

}  // namespace

int main(int argc, char** argv) try {
  int videos = 300;
  if (argc == 3 && std::string(argv[1]) == "--videos") {
    videos = std::atoi(argv[2]);
  } else if (argc != 1 || videos < 2) {
    std::fprintf(stderr, "usage: match_service [--videos N]\n");
    return 2;
  }
  db::Database& database = db::Database::global();
  db::migrate(database);
  std::mt19937 rng(2026);
  const auto ids = seed_archive(database, videos, rng);
  const auto source = ids[ids.size() / 2];
  const auto clip = cut_clip(database, source, rng);
  std::printf(
      "archive: %d videos x %d fingerprints; clip: %zu hashes cut "
      "from video %lld at %.1f s\n",
      videos, kFingerprintsPerVideo, clip.size(),
      static_cast<long long>(source), kClipFrom);

  // One statement, one round trip: the server votes and ranks.
  const auto candidates = database.transact([&](db::Session& s) {
    return db::VideoRepository{s}.find_matches(clip, 5);
  });
  std::printf("rank  video  matched  in_video  offset  score\n");
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    std::printf("%4zu  %5lld  %7lld  %8lld  %6.2f  %5.3f\n", i + 1,
                static_cast<long long>(c.video_id),
                static_cast<long long>(c.matched_hashes),
                static_cast<long long>(c.hashes_in_video), c.offset, c.score);
  }
  // Jitter of up to 20 ms can carry a hash into the next 0.1 s bin, so the
  // offset is right to within a bin.
  if (candidates.empty() || candidates[0].video_id != source ||
      std::abs(candidates[0].offset - kClipFrom) > 0.1 + 1e-9) {
    std::fprintf(stderr, "match_service: the clip was not identified\n");
    return 1;
  }
  std::printf("identified: video %lld at %.1f s\n",
              static_cast<long long>(source), candidates[0].offset);
  return 0;
} catch (const db::Error& e) {
  std::fprintf(stderr, "database error: %s\n", e.what());
  return 1;
}
