// The design's retry rules, exercised through repository calls.
#include <atomic>
#include <barrier>
#include <thread>

#include "repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::RepoTest;

TEST_F(RepoTest, KilledBackendOnFirstCallIsRetriedByTheCall) {
  sh_test::LogCapture log;
  auto repo = db::video_repository(database);
  side.terminate(repo.session().backend_pid());
  auto ch = repo->create_channel("UC1");  // first work: retries by itself
  EXPECT_GT(ch.id, 0);
  EXPECT_EQ(sh_test::sleeps().size(), 1u);
  EXPECT_TRUE(log.contains(
      "warning|Transient database error in create_channel (attempt 1/4): "
      "terminating connection due to administrator command"));
  EXPECT_TRUE(log.contains("Retrying in 0.50s..."));
}

TEST_F(RepoTest, DeadlockOnALaterCallThrowsTransientAndTransactRecovers) {
  std::int64_t a = 0, b = 0;
  {
    auto repo = db::job_repository(database);
    a = repo->create_job("t", "a").id;
    b = repo->create_job("t", "b").id;
  }
  // Plain sessions: the deadlock victim's later call throws; nothing retries
  // it alone.
  std::barrier locked(2);
  std::atomic<int> deadlocks{0};
  auto plain = [&](std::int64_t first, std::int64_t second) {
    auto s = database.session();
    db::JobRepository jobs{s};
    jobs.update_job_status(first, "running");
    locked.arrive_and_wait();
    try {
      jobs.update_job_status(second, "running");
    } catch (const db::DeadlockError&) {
      ++deadlocks;
      EXPECT_THROW(jobs.update_job_status(first, "failed"), db::TransientError)
          << "the session must refuse work after losing its unit";
      s.rollback();
    }
  };
  {
    std::thread t1(plain, a, b), t2(plain, b, a);
    t1.join();
    t2.join();
  }
  EXPECT_EQ(deadlocks.load(), 1);

  // The same under transact: both units commit.
  std::barrier locked2(2);
  std::atomic<int> attempts{0};
  auto unit = [&](std::int64_t first, std::int64_t second) {
    bool wait = true;
    database.transact([&](db::Session& s) {
      ++attempts;
      db::JobRepository jobs{s};
      jobs.update_job_status(first, "completed", 100.0);
      if (std::exchange(wait, false)) locked2.arrive_and_wait();
      jobs.update_job_status(second, "completed", 100.0);
    });
  };
  std::thread t1(unit, a, b), t2(unit, b, a);
  t1.join();
  t2.join();
  EXPECT_GE(attempts.load(), 3);
  EXPECT_EQ(
      side.count(
          "SELECT count(*) FROM processing_jobs WHERE status = 'completed'"),
      2);
}

TEST_F(RepoTest, CaughtIntegrityErrorThenMoreWorkCommits) {
  {
    auto s = database.session();
    db::VideoRepository videos{s};
    const auto ch = videos.create_channel("UC1");
    try {
      videos.create_channel("UC1");  // duplicate
      FAIL();
    } catch (const db::IntegrityError& e) {
      EXPECT_EQ(e.sqlstate(), "23505");
    }
    try {
      videos.create_video("v1", 999999);  // missing channel
      FAIL();
    } catch (const db::IntegrityError& e) {
      EXPECT_EQ(e.sqlstate(), "23503");
    }
    videos.create_video("v1", ch.id);
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);
  EXPECT_EQ(side.count("SELECT count(*) FROM videos"), 1);
}

TEST_F(RepoTest, TransactWithRepositoriesHasOneBudget) {
  int attempts = 0;
  EXPECT_THROW(database.transact([&](db::Session& s) {
    ++attempts;
    db::VideoRepository videos{s};
    videos.create_channel("UC1");
    side.terminate(s.backend_pid());
    videos.create_channel("UC2");
  }),
               db::ConnectionError);
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(sh_test::sleeps().size(), 3u);
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 0);
}
