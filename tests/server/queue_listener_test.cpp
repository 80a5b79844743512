// Wake-ups against a real server: JobListener hears committed jobs of its
// types, delayed jobs when they come due, and reconnects by itself.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::QueueTest;

TEST_F(QueueTest, NotifyWakesAWaitingWorkerLongBeforeItsPollInterval) {
  db::JobListener listener{database, {"fp"}};
  ASSERT_TRUE(listener.connected());
  std::thread producer([&] {
    std::this_thread::sleep_for(200ms);
    auto p = database.autocommit_session();
    db::JobRepository{p}.create_job("fp", "wake");
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(listener.wait_for_jobs(60s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s)
      << "woken by the poll timeout, not by NOTIFY";
  producer.join();
  EXPECT_EQ(jobs.claim_next_job({"fp"}, "w")->target_id, "wake");
}

TEST_F(QueueTest, OnlyCommittedJobsOfTheListenedTypesWake) {
  db::JobListener listener{database, {"fp"}};
  {
    auto unit = database.session();
    db::JobRepository{unit}.create_job("fp", "rolled-back");
    unit.rollback();
  }
  EXPECT_FALSE(listener.wait_for_jobs(300ms)) << "a rollback notified";
  jobs.create_job("other", "x");
  EXPECT_FALSE(listener.wait_for_jobs(300ms)) << "another type woke it";

  std::vector<db::NewJob> batch(100, job("b"));
  jobs.create_jobs_batch(batch);
  EXPECT_TRUE(listener.wait_for_jobs(5s));
  EXPECT_FALSE(listener.wait_for_jobs(300ms))
      << "a batch should wake once, not once per job";

  // A job that goes back to pending wakes workers too.
  const auto j = jobs.claim_next_job({"fp"}, "w");
  jobs.fail_job(j->id, "w", "retry me", {0ms, 0ms, 1.0});
  EXPECT_TRUE(listener.wait_for_jobs(5s));
}

// Jobs whose run_at is ahead wake a listener when they come due (not at its
// next poll, and never before they can be claimed); other types' do not.
TEST_F(QueueTest, DelayedJobsWakeTheListenerWhenTheyComeDue) {
  db::JobListener listener{database, {"fp"}};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<db::NewJob> batch = {job("now"), job("soon", 0, 1200ms)};
  jobs.create_jobs_batch(batch);
  db::NewJob other = job("other-soon", 0, 400ms);
  other.job_type = "other";
  jobs.create_job(other);

  ASSERT_TRUE(listener.wait_for_jobs(60s));
  EXPECT_EQ(jobs.claim_next_job({"fp"}, "w")->target_id, "now");
  ASSERT_TRUE(listener.wait_for_jobs(60s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s)
      << "woken by the poll timeout, not by the delayed notification";
  const auto soon = jobs.claim_next_job({"fp"}, "w");
  ASSERT_TRUE(soon) << "woken before the delayed job could be claimed";
  EXPECT_EQ(soon->target_id, "soon");
  EXPECT_FALSE(listener.wait_for_jobs(300ms)) << "nothing else was due";
}

TEST_F(QueueTest, ARetryWakesTheListenerWhenItsBackoffEnds) {
  db::JobListener listener{database, {"fp"}};
  jobs.create_job(job("flaky"));
  ASSERT_TRUE(listener.wait_for_jobs(5s));
  const auto j = jobs.claim_next_job({"fp"}, "w");
  ASSERT_TRUE(j);
  const auto t0 = std::chrono::steady_clock::now();
  jobs.fail_job(j->id, "w", "boom", {800ms, 800ms, 1.0});
  ASSERT_TRUE(listener.wait_for_jobs(60s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s)
      << "woken by the poll timeout, not by the retry's notification";
  const auto again = jobs.claim_next_job({"fp"}, "w");
  ASSERT_TRUE(again) << "woken before the backoff ended";
  EXPECT_EQ(again->id, j->id);
}

// The delayed payload is "<ms> <type>": a type with spaces still matches.
TEST_F(QueueTest, ADelayedJobOfATypeWithSpacesWakesItsListener) {
  db::JobListener listener{database, {"fp x y"}};
  db::NewJob j = job("spaced", 0, 300ms);
  j.job_type = "fp x y";
  jobs.create_job(j);
  ASSERT_TRUE(listener.wait_for_jobs(60s));
  const auto got = jobs.claim_next_job({"fp x y"}, "w");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->target_id, "spaced");
}

TEST_F(QueueTest, InterruptEndsAWaitAtOnce) {
  db::JobListener listener{database};
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    listener.interrupt();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(listener.wait_for_jobs(60s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  stopper.join();
}

// The listener keeps what it needs to reconnect: the Database it was made
// from may be gone (this reconnect would read freed memory otherwise, which
// the sanitizer builds catch).
TEST_F(QueueTest, AListenerReconnectsAfterItsDatabaseIsGone) {
  std::unique_ptr<db::JobListener> listener;
  {
    db::Database temp{database.config()};
    listener =
        std::make_unique<db::JobListener>(temp, std::vector<std::string>{"fp"});
  }
  kill_listener_backend();
  EXPECT_TRUE(listener->wait_for_jobs(5s)) << "lost: poll now";
  EXPECT_TRUE(listener->wait_for_jobs(5s)) << "reconnected: poll now";
  EXPECT_TRUE(listener->connected());
  jobs.create_job("fp", "after-its-database");
  EXPECT_TRUE(listener->wait_for_jobs(30s));
}

TEST_F(QueueTest, ListenerReconnectsAfterItsBackendIsKilled) {
  db::JobListener listener{database, {"fp"}};
  kill_listener_backend();
  EXPECT_TRUE(listener.wait_for_jobs(5s)) << "lost: poll now";
  EXPECT_FALSE(listener.connected());
  EXPECT_TRUE(listener.wait_for_jobs(5s)) << "reconnected: poll now";
  EXPECT_TRUE(listener.connected());
  jobs.create_job("fp", "after-reconnect");
  EXPECT_TRUE(listener.wait_for_jobs(30s));
}

TEST_F(QueueTest, WaitingWithATimeoutOfMaxWaitsForTheJob) {
  // milliseconds::max() means forever, not a deadline wrapped into the past.
  db::JobListener listener{database, {"fp"}};
  ASSERT_TRUE(listener.connected());
  std::thread producer([&] {
    std::this_thread::sleep_for(200ms);
    auto p = database.autocommit_session();
    db::JobRepository{p}.create_job("fp", "forever");
  });
  EXPECT_TRUE(listener.wait_for_jobs(std::chrono::milliseconds::max()));
  producer.join();
  EXPECT_EQ(jobs.claim_next_job({"fp"}, "w")->target_id, "forever");
}
