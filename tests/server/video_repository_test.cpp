// VideoRepository: every method against the real schema.
#include <cmath>

#include "repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono;
using sh_test::RepoTest;

namespace {

db::NewFingerprint fingerprint(std::int64_t video, int i) {
  db::NewFingerprint f;
  f.video_id = video;
  f.start_time = i * 10.0;
  f.end_time = i * 10.0 + 10;
  f.fingerprint_hash = "hash-" + std::to_string(i % 7);
  f.fingerprint_data = db::Bytes(64, static_cast<std::byte>(i % 256));
  f.confidence_score = 0.5;
  f.peak_count = i;
  f.sample_rate = 22050;
  f.segment_length = 10.0;
  return f;
}

}  // namespace

TEST_F(RepoTest, Channels) {
  {
    auto repo = db::video_repository(database);
    auto c = repo->create_channel(
        "UC1", "One",
        {.description = "desc", .subscriber_count = 10, .video_count = 2});
    EXPECT_GT(c.id, 0);
    EXPECT_EQ(c.channel_id, "UC1");
    EXPECT_EQ(c.channel_name, "One");
    EXPECT_EQ(c.description, "desc");
    EXPECT_EQ(c.subscriber_count, 10);
    EXPECT_TRUE(c.is_active);
    EXPECT_LT(system_clock::now() - c.created_at, minutes(5));
    EXPECT_FALSE(c.last_processed.has_value());
    repo->create_channel("UC2");
  }
  auto repo = db::video_repository(database);
  auto got = repo->get_channel_by_id("UC1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->channel_name, "One");
  auto bare = repo->get_channel_by_id("UC2");
  ASSERT_TRUE(bare.has_value());
  EXPECT_FALSE(bare->channel_name.has_value());
  EXPECT_FALSE(repo->get_channel_by_id("nope").has_value());
}

TEST_F(RepoTest, Videos) {
  std::int64_t channel = 0;
  const db::Timestamp uploaded = sys_days{2024y / 1 / 2} + 3h;
  {
    auto repo = db::video_repository(database);
    channel = repo->create_channel("UC1").id;
    auto v = repo->create_video(
        "v1", channel, "First", "https://y/v1",
        {.duration = 61.5, .view_count = 7, .upload_date = uploaded});
    EXPECT_EQ(v.video_id, "v1");
    EXPECT_EQ(v.channel_id, channel);
    EXPECT_EQ(v.title, "First");
    EXPECT_EQ(v.url, "https://y/v1");
    EXPECT_EQ(v.duration, 61.5);
    EXPECT_EQ(v.upload_date, uploaded);
    EXPECT_FALSE(v.processed);
    repo->create_video("v2", channel);
    repo->create_video("v3", channel);
  }
  auto repo = db::video_repository(database);
  auto v1 = repo->get_video_by_id("v1");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->view_count, 7);
  EXPECT_FALSE(repo->get_video_by_id("v9"));

  auto unprocessed = repo->get_unprocessed_videos(2);
  ASSERT_EQ(unprocessed.size(), 2u);
  EXPECT_EQ(unprocessed[0].video_id, "v1");
  EXPECT_EQ(unprocessed[1].video_id, "v2");

  EXPECT_TRUE(repo->mark_video_processed(v1->id));
  EXPECT_TRUE(
      repo->mark_video_processed(unprocessed[1].id, false, "decode failed"));
  EXPECT_FALSE(repo->mark_video_processed(999999));
  auto rest = repo->get_unprocessed_videos(10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].video_id, "v3");
  auto v2 = repo->get_video_by_id("v2");
  EXPECT_TRUE(v2->processed);
  EXPECT_EQ(v2->processing_error, "decode failed");
  EXPECT_TRUE(v2->processing_completed.has_value());
}

TEST_F(RepoTest, FingerprintsOneAndBatch) {
  const auto [channel, video] = seed_video();
  auto repo = db::video_repository(database);
  EXPECT_FALSE(repo->check_fingerprints_exist(video));
  auto one = repo->create_fingerprint(fingerprint(video, 0));
  EXPECT_GT(one.id, 0);
  EXPECT_EQ(one.fingerprint_data, fingerprint(video, 0).fingerprint_data);
  EXPECT_EQ(one.sample_rate, 22050);
  EXPECT_TRUE(repo->check_fingerprints_exist(video));

  std::vector<db::NewFingerprint> batch;
  for (int i = 1; i <= 700; ++i) batch.push_back(fingerprint(video, i));
  batch[3].confidence_score.reset();  // NULLs go through COPY too
  batch[3].peak_count.reset();
  EXPECT_EQ(repo->create_fingerprints_batch(batch), 700);
  EXPECT_EQ(repo->create_fingerprints_batch({}), 0);

  auto matches = repo->find_matching_fingerprints("hash-3");
  EXPECT_EQ(matches.size(), 100u);  // i % 7 == 3 for i in 0..700
  for (const auto& m : matches) EXPECT_EQ(m.fingerprint_hash, "hash-3");
  EXPECT_EQ(repo->find_matching_fingerprints("hash-3", 5).size(), 5u);
  EXPECT_TRUE(repo->find_matching_fingerprints("none").empty());
  const auto with_nulls = repo->find_matching_fingerprints("hash-4");
  const auto it = std::find_if(with_nulls.begin(), with_nulls.end(),
                               [](auto& f) { return f.start_time == 40.0; });
  ASSERT_NE(it, with_nulls.end());
  EXPECT_FALSE(it->confidence_score.has_value());
  EXPECT_FALSE(it->peak_count.has_value());
  EXPECT_EQ(it->fingerprint_data, db::Bytes(64, std::byte{4}));
}

TEST_F(RepoTest, MatchResults) {
  const auto [channel, video] = seed_video();
  std::int64_t q = 0, a = 0, b = 0;
  {
    auto repo = db::video_repository(database);
    q = repo->create_fingerprint(fingerprint(video, 1)).id;
    a = repo->create_fingerprint(fingerprint(video, 2)).id;
    b = repo->create_fingerprint(fingerprint(video, 3)).id;
  }
  auto repo = db::video_repository(database);
  auto m = repo->create_match_result({.query_fingerprint_id = q,
                                      .matched_fingerprint_id = a,
                                      .similarity_score = 0.9,
                                      .match_confidence = 0.8,
                                      .query_source = "upload"});
  EXPECT_GT(m.id, 0);
  EXPECT_EQ(m.query_source, "upload");
  std::vector<db::NewMatchResult> batch;
  for (int i = 0; i < 20; ++i) {
    batch.push_back({.query_fingerprint_id = q,
                     .matched_fingerprint_id = i % 2 ? a : b,
                     .similarity_score = i / 100.0,
                     .query_user = "u" + std::to_string(i)});
  }
  EXPECT_EQ(repo->create_match_results_batch(batch), 20);
  auto top = repo->get_top_matches(q, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_DOUBLE_EQ(top[0].similarity_score, 0.9);
  EXPECT_DOUBLE_EQ(top[1].similarity_score, 0.19);
  EXPECT_EQ(top[1].query_user, "u19");
  EXPECT_DOUBLE_EQ(top[2].similarity_score, 0.18);
  EXPECT_TRUE(repo->get_top_matches(a).empty());
}

// Each model's row_traits lists its table's columns once, in table order
// (reads are by position, and `(r.job).*` relies on the order): check every
// list against the live, migrated table.
template <class T>
void expect_columns_of(sh_test::Side& side, const std::string& table) {
  std::string listed;
  for (auto name : soundhash::db::column_names<T>()) {
    if (!listed.empty()) listed += ',';
    listed += name;
  }
  EXPECT_EQ(
      side.value("SELECT string_agg(attname, ',' ORDER BY attnum) FROM "
                 "pg_attribute WHERE attrelid = '" +
                 table + "'::regclass AND attnum > 0 AND NOT attisdropped"),
      listed)
      << table;
}

TEST_F(RepoTest, ModelColumnListsMatchTheTables) {
  namespace db = soundhash::db;
  expect_columns_of<db::Channel>(side, "channels");
  expect_columns_of<db::Video>(side, "videos");
  expect_columns_of<db::AudioFingerprint>(side, "audio_fingerprints");
  expect_columns_of<db::MatchResult>(side, "match_results");
  expect_columns_of<db::ProcessingJob>(side, "processing_jobs");
}
