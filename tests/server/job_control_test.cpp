// Cancellation, timeouts, the error history and the backoff's jitter, through
// JobRepository against the real server (issue 19).
#include <chrono>
#include <cmath>
#include <limits>
#include <soundhash/db/job_errors.hpp>
#include <thread>

#include "queue_fixture.hpp"

namespace sh_test {
namespace {

using namespace std::chrono_literals;

class JobControlTest : public QueueTest {
 protected:
  std::string status(std::int64_t id) {
    return side.value("SELECT status FROM processing_jobs WHERE id = " +
                      std::to_string(id));
  }
  db::NewJob timed(std::string target, std::chrono::milliseconds timeout,
                   int max_retries = 3) {
    auto j = job(std::move(target), 0, 0ms, max_retries);
    j.timeout = timeout;
    return j;
  }
};

TEST_F(JobControlTest, APendingJobIsCancelledAtOnceAndNeverClaimed) {
  const auto id = jobs.create_job(job("p")).id;
  const auto cancelled = jobs.cancel_job(id);
  EXPECT_EQ(cancelled.id, id);
  EXPECT_EQ(cancelled.status, "cancelled");
  EXPECT_TRUE(cancelled.completed_at.has_value());
  EXPECT_FALSE(cancelled.locked_by.has_value());
  EXPECT_EQ(status(id), "cancelled");
  EXPECT_FALSE(jobs.claim_next_job({"fp"}, "w").has_value());
}

TEST_F(JobControlTest, ARunningJobEndsCancelledWhateverItsWorkerDoesNext) {
  const auto id = jobs.create_job(job("r")).id;
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w").has_value());
  const auto cancelled = jobs.cancel_job(id);
  EXPECT_EQ(cancelled.status, "cancelled");
  EXPECT_EQ(cancelled.locked_by, "w") << "who ran it stays visible";
  // The worker learns of it at its next heartbeat; nothing it does after
  // that (or instead) changes the outcome.
  EXPECT_THROW(jobs.heartbeat(id, "w", 50.0), db::JobNotOwned);
  EXPECT_THROW(jobs.fail_job(id, "w", "handler threw", {}), db::JobNotOwned);
  EXPECT_THROW(jobs.complete_job(id, "w"), db::JobNotOwned);
  EXPECT_THROW((void)jobs.complete_job_and_claim_next(id, "w", {"fp"}),
               db::JobNotOwned);
  side.exec(
      "UPDATE processing_jobs SET started_at = now() - interval '1 hour'"
      " WHERE id = " +
      std::to_string(id));
  EXPECT_TRUE(jobs.rescue_stale_jobs(1s).empty());
  EXPECT_EQ(status(id), "cancelled");
  EXPECT_EQ(side.value("SELECT retry_count || ' ' || errors::text FROM "
                       "processing_jobs WHERE id = " +
                       std::to_string(id)),
            "0 []")
      << "a cancellation is not a failed attempt";
}

TEST_F(JobControlTest,
       CancellingAMissingOrFinishedJobIsATypedErrorThatChangesNothing) {
  try {
    (void)jobs.cancel_job(999999);
    FAIL() << "no throw";
  } catch (const db::JobNotFound& e) {
    EXPECT_EQ(e.job_id(), 999999);
    EXPECT_FALSE(e.is_transient());
  }
  const auto done = jobs.create_job(job("done")).id;
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w").has_value());
  jobs.complete_job(done, "w");
  const auto before = row(done);
  try {
    (void)jobs.cancel_job(done);
    FAIL() << "no throw";
  } catch (const db::JobAlreadyFinished& e) {
    EXPECT_EQ(e.job_id(), done);
    EXPECT_EQ(e.status(), "completed");
  }
  EXPECT_EQ(row(done), before);
  const auto twice = jobs.create_job(job("twice")).id;
  (void)jobs.cancel_job(twice);
  const auto cancelled_row = row(twice);
  EXPECT_THROW((void)jobs.cancel_job(twice), db::JobAlreadyFinished);
  EXPECT_EQ(row(twice), cancelled_row);
  EXPECT_THROW((void)jobs.cancel_job(0), db::InvalidArgument);
}

TEST_F(JobControlTest, TimeoutsAreStoredByEveryWayOfCreating) {
  const auto a = jobs.create_job(timed("a", 1500ms)).id;
  const std::vector<db::NewJob> batch = {timed("b", 2500ms), job("c")};
  const auto ids = jobs.create_jobs_batch(batch);
  const auto [d, created] = jobs.create_job_if_not_exists(timed("d", 3500ms));
  ASSERT_TRUE(created);
  EXPECT_EQ(side.value("SELECT string_agg(coalesce(timeout_ms::text, '-'), "
                       "',' ORDER BY id) FROM processing_jobs"),
            "1500,2500,-,3500");
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_GT(d.id, a);
  EXPECT_THROW((void)jobs.create_job(timed("z", 0ms)), db::InvalidArgument);
  EXPECT_THROW((void)jobs.create_job(timed("z", -5ms)), db::InvalidArgument);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 4);
}

TEST_F(JobControlTest,
       AHeartbeatPastTheTimeoutFailsTheAttemptThroughTheRetryBudget) {
  const auto id = jobs.create_job(timed("slow", 300ms, 1)).id;
  const db::JobBackoff at_once{0ms, 0ms, 1.0};
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w1").has_value());
  jobs.heartbeat(id, "w1");  // within the timeout: kept alive
  std::this_thread::sleep_for(350ms);
  EXPECT_THROW(jobs.heartbeat(id, "w1", {}, {}, at_once), db::JobTimedOut);
  EXPECT_EQ(side.value("SELECT status || ' ' || retry_count || ' ' || "
                       "(locked_by IS NULL) || ' ' || (run_at <= now()) || ' '"
                       " || error_message FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "pending 1 true true timed out: the attempt ran longer than 300 "
            "ms");
  // Its retry budget spent, the next timeout ends it failed.
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w2").has_value());
  std::this_thread::sleep_for(350ms);
  EXPECT_THROW(jobs.heartbeat(id, "w2", 10.0, {}, at_once), db::JobTimedOut);
  EXPECT_EQ(status(id), "failed");
  const auto errors = jobs.get_job_errors(id);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].attempt, 1);
  EXPECT_EQ(errors[0].worker, "w1");
  EXPECT_EQ(errors[1].attempt, 2);
  EXPECT_EQ(errors[1].worker, "w2");
  EXPECT_NE(errors[1].message.find("timed out"), std::string::npos);
  // A job without a timeout is kept alive however long it runs.
  const auto plain = jobs.create_job(job("plain")).id;
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w3").has_value());
  side.exec(
      "UPDATE processing_jobs SET started_at = now() - interval '1 day'"
      " WHERE id = " +
      std::to_string(plain));
  EXPECT_NO_THROW(jobs.heartbeat(plain, "w3"));
}

// A job that times out every attempt must not loop hot: the timeout waits
// out the backoff, as a handler's failure would.
TEST_F(JobControlTest, ATimedOutAttemptWaitsOutTheBackoff) {
  const auto id = jobs.create_job(timed("stuck", 100ms, 3)).id;
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w1").has_value());
  std::this_thread::sleep_for(150ms);
  EXPECT_THROW(jobs.heartbeat(id, "w1", {}, {}, {5s, 1h, 2.0}),
               db::JobTimedOut);
  EXPECT_EQ(side.value("SELECT status || ' ' || retry_count || ' ' || "
                       "(run_at - now() BETWEEN interval '4.5 s' AND "
                       "interval '5 s') FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "pending 1 true");
  EXPECT_FALSE(jobs.claim_next_job({"fp"}, "w2")) << "came back at once";
  // The default is fail_job's, JobBackoff{}: 10 s doubling, so 20 s now.
  side.exec("UPDATE processing_jobs SET run_at = now() WHERE id = " +
            std::to_string(id));
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w2").has_value());
  std::this_thread::sleep_for(150ms);
  EXPECT_THROW(jobs.heartbeat(id, "w2"), db::JobTimedOut);
  EXPECT_EQ(side.value("SELECT run_at - now() BETWEEN interval '19 s' AND "
                       "interval '20 s' FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "t");
  EXPECT_THROW(jobs.heartbeat(id, "w2", {}, {}, {1s, 0s, 2.0}),
               db::InvalidArgument);
}

TEST_F(JobControlTest, EachFailedAttemptJoinsABoundedHistory) {
  const auto id = jobs.create_job(job("h", 0, 0ms, 30)).id;
  const db::JobBackoff now_again{0ms, 0ms, 1.0};
  for (int i = 1; i <= 25; ++i) {
    ASSERT_TRUE(jobs.claim_next_job({"fp"}, "w" + std::to_string(i)));
    (void)jobs.fail_job(id, "w" + std::to_string(i),
                        "boom " + std::to_string(i), now_again);
  }
  const auto errors = jobs.get_job_errors(id);
  ASSERT_EQ(errors.size(), 20u) << "the last 20 are kept";
  EXPECT_EQ(errors.front().attempt, 6);
  EXPECT_EQ(errors.front().message, "boom 6");
  EXPECT_EQ(errors.front().worker, "w6");
  EXPECT_EQ(errors.back().attempt, 25);
  EXPECT_EQ(errors.back().message, "boom 25");
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_LE(errors[i - 1].at, errors[i].at);
  }
  // A rescue is a failed attempt too.
  ASSERT_TRUE(jobs.claim_next_job({"fp"}, "gone"));
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval "
      "'1 hour' WHERE id = " +
      std::to_string(id));
  ASSERT_EQ(jobs.rescue_stale_jobs(1s).size(), 1u);
  const auto after = jobs.get_job_errors(id);
  ASSERT_EQ(after.size(), 20u);
  EXPECT_EQ(after.back().attempt, 26);
  EXPECT_EQ(after.back().worker, "gone");
  EXPECT_EQ(after.back().message.rfind("rescued: no heartbeat", 0), 0u);

  const auto clean = jobs.create_job(job("clean")).id;
  EXPECT_TRUE(jobs.get_job_errors(clean).empty());
  EXPECT_THROW((void)jobs.get_job_errors(999999), db::JobNotFound);
  EXPECT_EQ(jobs.get_job(clean)->target_id, "clean");
  EXPECT_FALSE(jobs.get_job(999999).has_value());
}

TEST_F(JobControlTest, JitterSpreadsABurstOfFailuresAcrossTheBackoff) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(job("j" + std::to_string(i)));
  (void)jobs.create_jobs_batch(batch);
  const auto claimed = jobs.claim_jobs({"fp"}, "w", 50);
  ASSERT_EQ(claimed.size(), 50u);
  const db::JobBackoff full{.initial = 20s, .max = 20s, .jitter = 1.0};
  for (const auto& j : claimed) (void)jobs.fail_job(j.id, "w", "burst", full);
  // All within [now, now + 20 s], spread out: 50 uniform draws leave no
  // 10-second half of the window empty, and hardly any two alike.
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND run_at <= now() + interval '20 seconds' "
                       "AND run_at >= now() - interval '1 second'"),
            50);
  EXPECT_GE(side.count("SELECT count(DISTINCT date_trunc('milliseconds', "
                       "run_at)) FROM processing_jobs"),
            45);
  EXPECT_GT(side.count("SELECT count(*) FROM processing_jobs WHERE run_at < "
                       "now() + interval '10 seconds'"),
            0);
  EXPECT_GT(side.count("SELECT count(*) FROM processing_jobs WHERE run_at > "
                       "now() + interval '10 seconds'"),
            0);
  // Out-of-range jitter is refused before anything changes.
  // Ahead of the burst (some of which full jitter made runnable already).
  const auto id = jobs.create_job(job("bad", -1)).id;
  ASSERT_EQ(jobs.claim_next_job({"fp"}, "w2")->id, id);
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_THROW((void)jobs.fail_job(id, "w2", "x", {.jitter = bad}),
                 db::InvalidArgument);
  }
  EXPECT_EQ(status(id), "running");
}

}  // namespace
}  // namespace sh_test
