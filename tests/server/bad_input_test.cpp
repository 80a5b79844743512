// Bad input: a clear typed error, the unit rolled back, the connection
// reusable, and everything committed earlier intact.
#include <chrono>
#include <cmath>
#include <functional>

#include "repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::string_literals;

namespace {

enum class Kind { invalid, integrity, data };

struct Case {
  const char* name;
  Kind kind;
  const char* sqlstate;  // "" for InvalidArgument
  std::function<void(db::VideoRepository&, db::JobRepository&, std::int64_t)>
      call;
};

bool is(Kind k, const db::Error& e) {
  switch (k) {
    case Kind::invalid:
      return dynamic_cast<const db::InvalidArgument*>(&e) != nullptr;
    case Kind::integrity:
      return dynamic_cast<const db::IntegrityError*>(&e) != nullptr;
    case Kind::data:
      return dynamic_cast<const db::DataError*>(&e) != nullptr;
  }
  return false;
}

db::NewFingerprint good_fp(std::int64_t video) {
  db::NewFingerprint f;
  f.video_id = video;
  f.start_time = 0;
  f.end_time = 1;
  f.fingerprint_hash = "h";
  f.fingerprint_data = db::Bytes{std::byte{1}};
  return f;
}

const double kNaN = std::nan("");

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"empty channel id", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.create_channel(""); }},
      {"NUL in channel id", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.create_channel("UC\0x"s); }},
      {"NUL in channel name", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.create_channel("UCn", "a\0b"s); }},
      {"overlong channel id", Kind::data, "22001",
       [](auto& v, auto&, auto) { v.create_channel(std::string(256, 'x')); }},
      {"invalid UTF-8", Kind::data, "22021",
       [](auto& v, auto&, auto) { v.create_channel("UC\xff\xfe"); }},
      {"duplicate channel id", Kind::integrity, "23505",
       [](auto& v, auto&, auto) { v.create_channel("UC_base"); }},
      {"video for a missing channel", Kind::integrity, "23503",
       [](auto& v, auto&, auto) { v.create_video("v_missing", 987654); }},
      {"video channel id 0", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.create_video("v0", 0); }},
      {"negative duration", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.create_video("vneg", 1, {}, {}, {.duration = -1.0});
       }},
      {"NaN duration", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.create_video("vnan", 1, {}, {}, {.duration = kNaN});
       }},
      {"zero limit", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.get_unprocessed_videos(0); }},
      {"negative limit", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.get_unprocessed_videos(-5); }},
      {"empty hash", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.find_matching_fingerprints(""); }},
      {"empty hash in a batch", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matching_fingerprints_batch(std::vector<std::string>{"a", ""});
       }},
      {"NUL in a batch hash", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matching_fingerprints_batch(std::vector{"a\0b"s});
       }},
      {"batch hash of 65 characters", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matching_fingerprints_batch(std::vector{std::string(65, 'h')});
       }},
      {"invalid UTF-8 in a batch hash", Kind::data, "22021",
       [](auto& v, auto&, auto) {
         v.find_matching_fingerprints_batch(std::vector{"h\xff\xfe"s});
       }},
      {"batch limit 0", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matching_fingerprints_batch(std::vector{"a"s}, 0);
       }},
      {"empty query hash", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", 1}, {"", 2}});
       }},
      {"NUL in a query hash", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a\0"s, 1}});
       }},
      {"query hash of 65 characters", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{std::string(65, 'h'), 1}});
       }},
      {"invalid UTF-8 in a query hash", Kind::data, "22021",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"\xc3\x28"s, 1}});
       }},
      {"negative query offset", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", -0.5}});
       }},
      {"NaN query offset", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", kNaN}});
       }},
      {"match limit 0", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", 1}}, 0);
       }},
      {"match bin of 0 seconds", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", 1}}, 10, 0.0);
       }},
      {"infinite match bin", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.find_matches(std::vector<db::QueryHash>{{"a", 1}}, 10, HUGE_VAL);
       }},
      {"top matches limit 0", Kind::invalid, "",
       [](auto& v, auto&, auto) { v.get_top_matches(1, 0); }},
      {"confidence above 1", Kind::invalid, "",
       [](auto& v, auto&, std::int64_t video) {
         auto f = good_fp(video);
         f.confidence_score = 1.5;
         v.create_fingerprint(f);
       }},
      {"NaN confidence", Kind::invalid, "",
       [](auto& v, auto&, std::int64_t video) {
         auto f = good_fp(video);
         f.confidence_score = kNaN;
         v.create_fingerprint(f);
       }},
      {"end before start", Kind::invalid, "",
       [](auto& v, auto&, std::int64_t video) {
         auto f = good_fp(video);
         f.start_time = 5;
         v.create_fingerprint(f);
       }},
      {"batch with one bad element sends nothing", Kind::invalid, "",
       [](auto& v, auto&, std::int64_t video) {
         std::vector<db::NewFingerprint> batch(10, good_fp(video));
         batch[7].fingerprint_hash.clear();
         v.create_fingerprints_batch(batch);
       }},
      {"batch for a missing video", Kind::integrity, "23503",
       [](auto& v, auto&, std::int64_t video) {
         std::vector<db::NewFingerprint> batch(10, good_fp(video));
         batch[7].video_id = 987654;
         v.create_fingerprints_batch(batch);
       }},
      {"NaN similarity", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.create_match_result({.query_fingerprint_id = 1,
                                .matched_fingerprint_id = 1,
                                .similarity_score = kNaN});
       }},
      {"similarity above 1", Kind::invalid, "",
       [](auto& v, auto&, auto) {
         v.create_match_results_batch(
             std::vector<db::NewMatchResult>{{.query_fingerprint_id = 1,
                                              .matched_fingerprint_id = 1,
                                              .similarity_score = 2}});
       }},
      {"empty job type", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.create_job_if_not_exists("", "t"); }},
      {"empty target", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.create_job("t", ""); }},
      {"empty check statuses", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.create_job_if_not_exists("t", "x", std::nullopt, {});
       }},
      {"unknown check status", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.create_job_if_not_exists("t", "x", std::nullopt, {"bogus"});
       }},
      {"unknown status", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.update_job_status(1, "done"); }},
      {"progress above 100", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.update_job_status(1, "running", 101.0); }},
      {"NaN progress", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.update_job_status(1, "running", kNaN); }},
      {"job id 0", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.update_job_status(0, "running"); }},
      {"pending jobs limit 0", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.get_pending_jobs(std::nullopt, 0); }},
      {"empty target in batch", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.jobs_exist_batch("t", {"a", ""});
       }},
      {"overlong job type", Kind::data, "22001",
       [](auto&, auto& j, auto) { j.create_job(std::string(51, 't'), "x"); }},
      {"invalid UTF-8 parameters", Kind::data, "22021",
       [](auto&, auto& j, auto) { j.create_job("t", "x", "\xc3\x28"s); }},
      {"NUL in parameters", Kind::invalid, "",
       [](auto&, auto& j, auto) { j.create_job("t", "x", "{\0}"s); }},
      {"release job id 0", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         (void)j.release_jobs({5, 0}, "w");
       }},
      {"release without a worker", Kind::invalid, "",
       [](auto&, auto& j, auto) { (void)j.release_jobs({5}, ""); }},
      {"purge everything finished from now on", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.purge_finished_jobs(std::chrono::milliseconds{-1});
       }},
      {"lag of an empty job type", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.oldest_runnable_wait({"fp", ""});
       }},
      {"purge batch of 0", Kind::invalid, "",
       [](auto&, auto& j, auto) {
         j.purge_finished_jobs(std::chrono::hours{1}, 0);
       }},
  };
  return all;
}

}  // namespace

class BadInput : public sh_test::RepoTest,
                 public ::testing::WithParamInterface<std::size_t> {};

TEST_P(BadInput, TypedErrorRollbackReusableConnectionEarlierRowsIntact) {
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.name);
  const auto [channel, video] = seed_video();
  {
    auto repo = db::video_repository(database);
    repo->create_channel("UC_base", "committed before");
  }
  const auto before = side.value(
      "SELECT string_agg(channel_id, ',' ORDER BY channel_id) FROM channels");

  // As the first call of a unit, and as a later call after other work.
  for (bool later : {false, true}) {
    SCOPED_TRACE(later ? "later call" : "first call");
    try {
      auto s = database.session();
      db::VideoRepository videos{s};
      db::JobRepository jobs{s};
      if (later) videos.create_channel("UC_pending");
      c.call(videos, jobs, video);
      ADD_FAILURE() << "no error";
    } catch (const db::Error& e) {
      EXPECT_TRUE(is(c.kind, e)) << typeid(e).name() << ": " << e.what();
      EXPECT_EQ(e.sqlstate(), c.sqlstate) << e.what();
      EXPECT_FALSE(std::string(e.what()).empty());
    }
    // The unit was rolled back; what was committed before is intact.
    EXPECT_EQ(side.value("SELECT string_agg(channel_id, ',' ORDER BY "
                         "channel_id) FROM channels"),
              before);
    EXPECT_EQ(side.count("SELECT count(*) FROM audio_fingerprints"), 0);
    EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 0);
    EXPECT_EQ(database.pool_stats().in_use, 0u);
  }
  // The connection is reusable: the next unit commits.
  {
    auto repo = db::video_repository(database);
    repo->create_channel("UC_after");
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM channels WHERE channel_id = "
                       "'UC_after'"),
            1);
  // And inside one session, a caught bad call does not spoil earlier work.
  {
    auto s = database.session();
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    videos.create_channel("UC_kept");
    EXPECT_THROW(c.call(videos, jobs, video), db::Error);
    jobs.create_job("t", "after_error");
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM channels WHERE channel_id = "
                       "'UC_kept'"),
            1);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE target_id "
                       "= 'after_error'"),
            1);
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, BadInput, ::testing::Range<std::size_t>(0, cases().size()),
    [](const ::testing::TestParamInfo<std::size_t>& param) {
      std::string n = cases()[param.param].name;
      for (char& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });
