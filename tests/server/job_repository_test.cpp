// JobRepository: every method against the real schema.
#include <mutex>
#include <thread>

#include "repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono;
using sh_test::RepoTest;

TEST_F(RepoTest, CreateJobAndQueries) {
  auto repo = db::job_repository(database);
  auto j = repo->create_job("video_process", "vid1", R"({"url": "u"})");
  EXPECT_GT(j.id, 0);
  EXPECT_EQ(j.status, "pending");
  EXPECT_EQ(j.parameters, R"({"url": "u"})");
  EXPECT_DOUBLE_EQ(j.progress, 0);
  EXPECT_EQ(j.retry_count, 0);
  EXPECT_EQ(j.max_retries, 3);
  EXPECT_FALSE(j.started_at);
  repo->create_job("channel_ingest", "UC1");
  repo->create_job("video_process", "vid2");

  EXPECT_TRUE(repo->job_exists("video_process", "vid1"));
  EXPECT_FALSE(repo->job_exists("video_process", "vid1", {"completed"}));
  EXPECT_FALSE(repo->job_exists("video_process", "vid9"));

  auto pending = repo->get_pending_jobs();
  EXPECT_EQ(pending.size(), 3u);
  auto vp = repo->get_pending_jobs("video_process", 1);
  ASSERT_EQ(vp.size(), 1u);
  EXPECT_EQ(vp[0].target_id, "vid1");

  repo->create_job("video_reprocess", "vid1");
  auto by_target = repo->get_jobs_by_target("vid1");
  ASSERT_EQ(by_target.size(), 2u);
  EXPECT_EQ(by_target[0].job_type, "video_reprocess");  // newest first
  EXPECT_EQ(repo->get_jobs_by_target("vid1", "video_process").size(), 1u);
}

TEST_F(RepoTest, UpdateJobStatusSetsTimestamps) {
  auto repo = db::job_repository(database);
  const auto id = repo->create_job("video_process", "vid1").id;
  auto running = repo->update_job_status(id, "running", 10.0, "download");
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, "running");
  EXPECT_DOUBLE_EQ(running->progress, 10.0);
  EXPECT_EQ(running->current_step, "download");
  ASSERT_TRUE(running->started_at);
  EXPECT_FALSE(running->completed_at);
  auto again = repo->update_job_status(id, "running", 50.0);
  EXPECT_EQ(again->started_at, running->started_at) << "started_at is kept";
  EXPECT_EQ(again->current_step, "download") << "unchanged when not given";
  auto failed =
      repo->update_job_status(id, "failed", std::nullopt, std::nullopt, "boom");
  EXPECT_EQ(failed->status, "failed");
  EXPECT_EQ(failed->error_message, "boom");
  EXPECT_TRUE(failed->completed_at);
  EXPECT_FALSE(repo->update_job_status(424242, "completed"));
}

TEST_F(RepoTest, CountsAndBatchExistence) {
  auto repo = db::job_repository(database);
  const auto a = repo->create_job("video_process", "a").id;
  repo->create_job("video_process", "b");
  repo->create_job("channel_ingest", "c");
  repo->update_job_status(a, "completed");
  auto counts = repo->count_jobs_by_status();
  EXPECT_EQ(counts, (std::map<std::string, std::int64_t>{{"completed", 1},
                                                         {"pending", 2}}));
  EXPECT_EQ(repo->count_jobs_by_status("channel_ingest"),
            (std::map<std::string, std::int64_t>{{"pending", 1}}));
  auto exist = repo->jobs_exist_batch("video_process", {"a", "b", "z"});
  EXPECT_EQ(exist, (std::map<std::string, bool>{
                       {"a", false}, {"b", true}, {"z", false}}));
  EXPECT_EQ(repo->jobs_exist_batch("video_process", {"a"}, {"completed"}),
            (std::map<std::string, bool>{{"a", true}}));
  EXPECT_TRUE(repo->jobs_exist_batch("video_process", {}).empty());
}

TEST_F(RepoTest, CreateJobIfNotExists) {
  sh_test::LogCapture log;
  auto repo = db::job_repository(database);
  auto [job, created] =
      repo->create_job_if_not_exists("video_process", "vid123", R"({"a":1})");
  EXPECT_TRUE(created);
  EXPECT_EQ(job.status, "pending");
  EXPECT_EQ(job.parameters, R"({"a":1})");
  auto [same, created_again] =
      repo->create_job_if_not_exists("video_process", "vid123");
  EXPECT_FALSE(created_again);
  EXPECT_EQ(same.id, job.id);
  EXPECT_TRUE(
      log.contains("info|Created new processing job: type=video_process, "
                   "target=vid123, id=" +
                   std::to_string(job.id)));
  EXPECT_TRUE(
      log.contains("debug|Job already exists: type=video_process, "
                   "target=vid123, status=pending"));
  // Once completed, a new one may be created.
  repo->update_job_status(job.id, "completed");
  auto [next, created_next] =
      repo->create_job_if_not_exists("video_process", "vid123");
  EXPECT_TRUE(created_next);
  EXPECT_NE(next.id, job.id);
}

TEST_F(RepoTest, FindingTheJobAlreadyThereLeavesNothingOpen) {
  std::int64_t id = 0;
  {
    auto repo = db::job_repository(database);
    id = repo->create_job_if_not_exists("video_process", "v1").first.id;
  }
  auto jobs_of = [&](const std::string& target) {
    return side.count(
        "SELECT count(*) FROM processing_jobs WHERE target_id = '" + target +
        "'");
  };
  struct Boom {};
  EXPECT_THROW(
      {
        auto repo = db::job_repository(database);
        const auto hit = repo->create_job_if_not_exists("video_process", "v1");
        EXPECT_FALSE(hit.second);
        EXPECT_EQ(hit.first.id, id);
        EXPECT_FALSE(repo.session().in_transaction())
            << "a hit writes nothing, so its transaction ended with the call";
        // The unit goes on in a new transaction and still rolls back whole.
        repo->create_job("video_process", "v2");
        EXPECT_TRUE(repo.session().in_transaction());
        throw Boom{};
      },
      Boom);
  EXPECT_EQ(jobs_of("v2"), 0);
  {
    auto repo = db::job_repository(database);
    EXPECT_TRUE(repo->create_job_if_not_exists("video_process", "v3").second);
    EXPECT_TRUE(repo.session().in_transaction()) << "a creation stays open";
    EXPECT_EQ(jobs_of("v3"), 0) << "committed only when the scope ends";
  }
  EXPECT_EQ(jobs_of("v3"), 1);
  EXPECT_EQ(jobs_of("v1"), 1);
}

TEST_F(RepoTest, CustomCheckStatuses) {
  auto repo = db::job_repository(database);
  const auto id = repo->create_job("video_process", "v").id;
  repo->update_job_status(id, "running");
  // Only pending jobs count: the running one does not block a new job.
  auto [fresh, created] = repo->create_job_if_not_exists(
      "video_process", "v", std::nullopt, {"pending"});
  EXPECT_TRUE(created);
  EXPECT_NE(fresh.id, id);
  auto [again, created_again] = repo->create_job_if_not_exists(
      "video_process", "v", std::nullopt, {"pending"});
  EXPECT_FALSE(created_again);
  EXPECT_EQ(again.id, fresh.id);
  // With the default statuses the newest matching job is returned.
  auto [dflt, created_dflt] =
      repo->create_job_if_not_exists("video_process", "v");
  EXPECT_FALSE(created_dflt);
  EXPECT_EQ(dflt.id, fresh.id);
}

TEST_F(RepoTest, CreateJobIfNotExistsAtRepeatableRead) {
  auto n = database.transact(
      [](db::Session& s) {
        db::JobRepository jobs{s};
        auto first = jobs.create_job_if_not_exists("t", "x");
        auto second = jobs.create_job_if_not_exists("t", "x");
        return int(first.second) + int(second.second);
      },
      {.isolation = db::Isolation::repeatable_read});
  EXPECT_EQ(n, 1);
}

TEST_F(RepoTest, StaleSnapshotCreatorGetsSerializationFailureNotADuplicate) {
  // A REPEATABLE READ unit takes its snapshot, then another creator commits a
  // job for the same key. Without the lock row the unit would insert a
  // duplicate; instead it fails with 40001 and transact's re-run sees the job.
  int attempts = 0;
  const bool created = database.transact(
      [&](db::Session& s) {
        ++attempts;
        s.execute("SELECT 1 FROM processing_jobs LIMIT 1");  // snapshot
        if (attempts == 1) {
          auto other = db::job_repository(database);
          EXPECT_TRUE(other->create_job_if_not_exists("t", "x").second);
        }
        db::JobRepository jobs{s};
        return jobs.create_job_if_not_exists("t", "x").second;
      },
      {.isolation = db::Isolation::repeatable_read});
  EXPECT_FALSE(created);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 1);
}

TEST_F(RepoTest, ClaimNextJobHandsEachJobToOneWorker) {
  {
    auto repo = db::job_repository(database);
    for (int i = 0; i < 40; ++i)
      repo->create_job("fingerprint", "v" + std::to_string(i));
    repo->create_job("other", "x");
  }
  std::mutex m;
  std::vector<std::int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (;;) {
        auto job = database.transact([](db::Session& s) {
          return db::JobRepository{s}.claim_next_job({"fingerprint"}, "w");
        });
        if (!job) return;
        EXPECT_EQ(job->status, "running");
        EXPECT_TRUE(job->started_at);
        std::lock_guard lock(m);
        claimed.push_back(job->id);
      }
    });
  }
  for (auto& t : workers) t.join();
  std::sort(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), 40u);
  EXPECT_EQ(std::adjacent_find(claimed.begin(), claimed.end()), claimed.end())
      << "a job was claimed twice";
  EXPECT_EQ(
      side.count(
          "SELECT count(*) FROM processing_jobs WHERE status = 'pending'"),
      1);
}
