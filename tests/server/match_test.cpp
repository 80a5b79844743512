// The match path against the server: find_matches agrees with a brute-force
// offset vote computed here from the very rows stored; the batched lookup
// agrees with the per-hash call; large and odd (but valid) queries get
// correct answers. Bad input is in bad_input_test.cpp.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "repo_fixture.hpp"

namespace db = soundhash::db;

namespace {

struct Stored {
  std::int64_t video_id;
  double start_time;
  std::string hash;
};

// The vote as docs/guide/match.md states it. The server's round() on
// double precision rounds half to even, as std::rint does in the default
// rounding mode; the arithmetic is the same IEEE operations in the same
// order, so bins and scores compare exactly.
std::vector<db::MatchCandidate> brute_force(const std::vector<Stored>& archive,
                                            const std::vector<db::QueryHash>& q,
                                            int limit, double bin) {
  std::multimap<std::string, const Stored*> by_hash;
  for (const auto& s : archive) by_hash.emplace(s.hash, &s);
  // (video, ord, bin), each once.
  std::set<std::tuple<std::int64_t, std::size_t, double>> hits;
  for (std::size_t ord = 0; ord < q.size(); ++ord) {
    auto [lo, hi] = by_hash.equal_range(q[ord].hash);
    for (auto it = lo; it != hi; ++it) {
      hits.emplace(it->second->video_id, ord,
                   std::rint((it->second->start_time - q[ord].offset) / bin));
    }
  }
  std::map<std::pair<std::int64_t, double>, std::int64_t> votes;
  std::map<std::int64_t, std::set<std::size_t>> found;
  for (const auto& [video, ord, b] : hits) {
    ++votes[{video, b}];
    found[video].insert(ord);
  }
  std::map<std::int64_t, db::MatchCandidate> best;
  for (const auto& [key, n] : votes) {  // bins ascending within a video
    auto& c = best[key.first];
    if (n > c.matched_hashes) {
      c.video_id = key.first;
      c.matched_hashes = n;
      c.offset = key.second * bin;
    }
  }
  std::vector<db::MatchCandidate> out;
  for (auto& [video, c] : best) {
    c.hashes_in_video = static_cast<std::int64_t>(found[video].size());
    c.score =
        static_cast<double>(c.matched_hashes) / static_cast<double>(q.size());
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.matched_hashes != b.matched_hashes) {
      return a.matched_hashes > b.matched_hashes;
    }
    return a.video_id < b.video_id;
  });
  if (out.size() > static_cast<std::size_t>(limit)) {
    out.resize(static_cast<std::size_t>(limit));
  }
  return out;
}

std::string describe(const std::vector<db::MatchCandidate>& cs) {
  std::string s;
  for (const auto& c : cs) {
    s += "{video " + std::to_string(c.video_id) + ", matched " +
         std::to_string(c.matched_hashes) + ", in video " +
         std::to_string(c.hashes_in_video) + ", offset " +
         std::to_string(c.offset) + ", score " + std::to_string(c.score) +
         "}\n";
  }
  return s;
}

void expect_same(const std::vector<db::MatchCandidate>& got,
                 const std::vector<db::MatchCandidate>& want) {
  ASSERT_EQ(got.size(), want.size()) << "got\n"
                                     << describe(got) << "want\n"
                                     << describe(want);
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("candidate " + std::to_string(i));
    EXPECT_EQ(got[i].video_id, want[i].video_id);
    EXPECT_EQ(got[i].matched_hashes, want[i].matched_hashes);
    EXPECT_EQ(got[i].hashes_in_video, want[i].hashes_in_video);
    EXPECT_EQ(got[i].offset, want[i].offset);
    EXPECT_EQ(got[i].score, want[i].score);
  }
}

class Match : public sh_test::RepoTest {
 protected:
  // `videos` videos of `per_video` fingerprints each, hashes drawn from
  // `alphabet` values (so many repeat, within and across videos), start
  // times on a 10 ms grid.
  void seed_archive(int videos, int per_video, int alphabet,
                    std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick_hash(0, alphabet - 1);
    std::uniform_int_distribution<int> pick_ms(0, 120'000);
    auto repo = db::video_repository(database);
    const auto channel = repo->create_channel("UC_match").id;
    std::vector<db::NewFingerprint> batch;
    for (int v = 0; v < videos; ++v) {
      const auto id = repo->create_video("mv" + std::to_string(v), channel).id;
      video_ids.push_back(id);
      for (int i = 0; i < per_video; ++i) {
        db::NewFingerprint f;
        f.video_id = id;
        f.start_time = pick_ms(rng) / 1000.0;
        f.end_time = f.start_time + 1;
        f.fingerprint_hash = "h" + std::to_string(pick_hash(rng));
        f.fingerprint_data = db::Bytes{std::byte{1}};
        archive.push_back({id, f.start_time, f.fingerprint_hash});
        batch.push_back(std::move(f));
      }
    }
    repo->create_fingerprints_batch(batch);
  }

  // A clip of `video` from `from` seconds for `length` seconds: its hashes
  // with offsets into the clip, `drop` of them left out, `noise` random
  // hashes at random offsets added.
  std::vector<db::QueryHash> clip(std::int64_t video, double from,
                                  double length, double drop, int noise,
                                  int alphabet, std::mt19937& rng) const {
    std::vector<db::QueryHash> q;
    std::bernoulli_distribution dropped(drop);
    for (const auto& s : archive) {
      if (s.video_id != video || s.start_time < from ||
          s.start_time >= from + length || dropped(rng)) {
        continue;
      }
      q.push_back({s.hash, s.start_time - from});
    }
    std::uniform_int_distribution<int> pick_hash(0, alphabet - 1);
    std::uniform_real_distribution<double> pick_offset(0, length);
    for (int i = 0; i < noise; ++i) {
      q.push_back({"h" + std::to_string(pick_hash(rng)), pick_offset(rng)});
    }
    std::shuffle(q.begin(), q.end(), rng);
    return q;
  }

  std::vector<std::int64_t> video_ids;
  std::vector<Stored> archive;
};

TEST_F(Match, FindMatchesAgreesWithABruteForceVote) {
  constexpr int kAlphabet = 400;
  seed_archive(30, 300, kAlphabet, 17);
  std::mt19937 rng(99);
  auto repo = db::video_repository(database);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto video = video_ids[static_cast<std::size_t>(round) * 2];
    const double from = 10.0 + round * 7.23;
    const auto q = clip(video, from, 15.0, 0.3, 20, kAlphabet, rng);
    ASSERT_GT(q.size(), 20u);
    const double bin =
        round % 3 == 0 ? 0.25 : db::MatchCandidate::default_bin_seconds;
    const int limit = round % 2 == 0 ? 5 : 100;
    const auto got = repo->find_matches(q, limit, bin);
    expect_same(got, brute_force(archive, q, limit, bin));
    // The clip's own video wins, at the offset it was cut from.
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0].video_id, video);
    EXPECT_NEAR(got[0].offset, from, bin / 2 + 1e-9);
  }
  // A query of random hashes only: the same vote, whatever it finds.
  std::vector<db::QueryHash> noise;
  std::uniform_int_distribution<int> pick_hash(0, kAlphabet - 1);
  for (int i = 0; i < 200; ++i) {
    noise.push_back({"h" + std::to_string(pick_hash(rng)), i * 0.05});
  }
  expect_same(repo->find_matches(noise, 1000),
              brute_force(archive, noise, 1000, 0.1));
}

TEST_F(Match, CommonHashesDoNotOutvoteAlignedOnes) {
  auto repo = db::video_repository(database);
  const auto channel = repo->create_channel("UC_common").id;
  const auto target = repo->create_video("target", channel).id;
  const auto noisy = repo->create_video("noisy", channel).id;
  std::vector<db::NewFingerprint> fps;
  auto add = [&](std::int64_t video, double t, std::string hash) {
    db::NewFingerprint f;
    f.video_id = video;
    f.start_time = t;
    f.end_time = t;
    f.fingerprint_hash = std::move(hash);
    f.fingerprint_data = db::Bytes{std::byte{0}};
    fps.push_back(std::move(f));
  };
  // target holds a, b, c at 30 s + 0, 1, 2; noisy holds a, b, c, d many
  // times, never in the clip's pattern.
  add(target, 30, "a");
  add(target, 31, "b");
  add(target, 32, "c");
  for (int i = 0; i < 20; ++i) {
    for (const char* h : {"a", "b", "c", "d"}) add(noisy, i * 3.7, h);
  }
  repo->create_fingerprints_batch(fps);
  const std::vector<db::QueryHash> q = {{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}};
  const auto got = repo->find_matches(q);
  ASSERT_EQ(got.size(), 2u) << describe(got);
  EXPECT_EQ(got[0].video_id, target);
  EXPECT_EQ(got[0].matched_hashes, 3);
  EXPECT_EQ(got[0].hashes_in_video, 3);
  EXPECT_DOUBLE_EQ(got[0].offset, 30.0);
  EXPECT_DOUBLE_EQ(got[0].score, 0.75);
  EXPECT_EQ(got[1].video_id, noisy);
  EXPECT_EQ(got[1].hashes_in_video, 4);
  EXPECT_LT(got[1].matched_hashes, 3);
  EXPECT_EQ(repo->find_matches(q, 1).size(), 1u);
  // Nothing found, and an empty query: no candidates.
  EXPECT_TRUE(
      repo->find_matches(std::vector<db::QueryHash>{{"zzz", 0}}).empty());
  EXPECT_TRUE(repo->find_matches({}).empty());
}

TEST_F(Match, BatchLookupAgreesWithThePerHashCall) {
  seed_archive(10, 200, 50, 5);
  auto repo = db::video_repository(database);
  // Present, common, missing, repeated; one of 64 multi-byte characters.
  std::vector<std::string> hashes = {"h1", "h2", "missing", "h1", "h49"};
  std::string wide;
  for (int i = 0; i < 64; ++i) wide += "\xc3\xa9";  // é
  hashes.push_back(wide);
  for (int limit : {1, 3, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    const auto batch = repo->find_matching_fingerprints_batch(hashes, limit);
    ASSERT_EQ(batch.size(), hashes.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      const auto one = repo->find_matching_fingerprints(hashes[i], limit);
      ASSERT_EQ(batch[i].size(), one.size()) << hashes[i];
      for (std::size_t j = 0; j < one.size(); ++j) {
        EXPECT_EQ(batch[i][j].id, one[j].id);
        EXPECT_EQ(batch[i][j].video_id, one[j].video_id);
        EXPECT_EQ(batch[i][j].start_time, one[j].start_time);
        EXPECT_EQ(batch[i][j].fingerprint_hash, hashes[i]);
        EXPECT_EQ(batch[i][j].fingerprint_data, one[j].fingerprint_data);
        EXPECT_EQ(batch[i][j].created_at, one[j].created_at);
      }
    }
  }
  EXPECT_TRUE(repo->find_matching_fingerprints_batch({}).empty());
}

TEST_F(Match, HundredThousandHashQueriesAreAnswered) {
  constexpr int kAlphabet = 2000;
  seed_archive(20, 100, kAlphabet, 3);
  std::mt19937 rng(1);
  const auto video = video_ids[7];
  auto q = clip(video, 0, 200, 0.0, 0, kAlphabet, rng);
  std::uniform_int_distribution<int> pick(0, 1'000'000);
  while (q.size() < 100'000) {
    q.push_back({"n" + std::to_string(pick(rng)), pick(rng) / 1e4});
  }
  auto repo = db::video_repository(database);
  const auto got = repo->find_matches(q, 3);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].video_id, video);
  EXPECT_EQ(got[0].matched_hashes, 100);
  expect_same(got, brute_force(archive, q, 3, 0.1));

  std::vector<std::string> hashes;
  for (const auto& h : q) hashes.push_back(h.hash);
  const auto batch = repo->find_matching_fingerprints_batch(hashes, 2);
  ASSERT_EQ(batch.size(), hashes.size());
  std::size_t found = 0;
  for (const auto& fps : batch) found += fps.empty() ? 0 : 1;
  EXPECT_GE(found, 100u);
}

}  // namespace
