// A claimed job's life against a real server: ownership, failure and
// backoff, rescue, batch completion, the fused loop, release, purge, lag.
// Killed workers are in tests/faults/queue_test.cpp.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::QueueTest;

TEST_F(QueueTest, OnlyTheOwningWorkerChangesAJob) {
  const auto id = jobs.create_job(job("a")).id;
  ASSERT_EQ(jobs.claim_next_job({"fp"}, "owner")->id, id);
  const std::string before = row(id);

  EXPECT_THROW(jobs.heartbeat(id, "intruder", 50.0), db::JobNotOwned);
  EXPECT_THROW(jobs.complete_job(id, "intruder"), db::JobNotOwned);
  EXPECT_THROW(jobs.fail_job(id, "intruder", "boom"), db::JobNotOwned);
  EXPECT_THROW(jobs.complete_job_and_claim_next(id, "intruder", {"fp"}),
               db::JobNotOwned);
  EXPECT_EQ(jobs.complete_jobs({id}, "intruder"),
            std::vector<std::int64_t>{id});
  EXPECT_EQ(row(id), before) << "a refused call changed the job";
  try {
    jobs.complete_job(id, "intruder");
  } catch (const db::JobNotOwned& e) {
    EXPECT_EQ(e.job_id(), id);
    EXPECT_NE(std::string(e.what()).find("locked by 'owner'"),
              std::string::npos)
        << e.what();
  }
  try {
    jobs.heartbeat(id + 1000, "owner");
    ADD_FAILURE() << "no error for a job that does not exist";
  } catch (const db::JobNotOwned& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }

  jobs.heartbeat(id, "owner", 40.0, "hashing");
  EXPECT_EQ(side.value("SELECT progress || '/' || current_step FROM "
                       "processing_jobs WHERE id = " +
                       std::to_string(id)),
            "40/hashing");
  jobs.complete_job(id, "owner");
  jobs.complete_job(id, "owner");  // repeated after a CommitInDoubt: no-op
  EXPECT_EQ(side.value("SELECT status || ' ' || progress FROM processing_jobs "
                       "WHERE id = " +
                       std::to_string(id)),
            "completed 100");
  EXPECT_THROW(jobs.heartbeat(id, "owner"), db::JobNotOwned);
  EXPECT_THROW(jobs.fail_job(id, "owner", "late"), db::JobNotOwned);
}

// fail_job's delays are exact: read run_at - now() in the same transaction.
TEST_F(QueueTest, FailedJobBacksOffThenEndsFailedAfterMaxRetries) {
  const auto id = jobs.create_job(job("flaky", 0, 0ms, 3)).id;
  const db::JobBackoff backoff{200ms, 500ms, 2.0};
  const std::vector<long long> expected = {200, 400, 500};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    std::optional<db::ProcessingJob> claimed;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(claimed = jobs.claim_next_job({"fp"}, "w")) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(claimed) << "attempt " << attempt << " never became runnable";
    EXPECT_EQ(claimed->attempts, attempt);

    auto unit = database.session();
    db::JobRepository q{unit};
    const auto after = q.fail_job(id, "w", "attempt failed", backoff);
    const auto wait_ms = unit.execute(
                                 "SELECT round(extract(epoch FROM run_at "
                                 "- now()) * 1000)::bigint FROM "
                                 "processing_jobs WHERE id = $1",
                                 id)
                             .one()[0]
                             .as<std::int64_t>();
    unit.commit();
    EXPECT_EQ(after.error_message, "attempt failed");
    if (attempt <= 3) {
      EXPECT_EQ(after.status, "pending");
      EXPECT_EQ(after.retry_count, attempt);
      EXPECT_FALSE(after.locked_by);
      EXPECT_EQ(wait_ms, expected[attempt - 1]) << "attempt " << attempt;
      EXPECT_FALSE(jobs.claim_next_job({"fp"}, "w"))
          << "claimed before its backoff ran out";
    } else {
      EXPECT_EQ(after.status, "failed");
      EXPECT_EQ(after.retry_count, 3);
      EXPECT_TRUE(after.completed_at);
    }
  }
  EXPECT_FALSE(jobs.claim_next_job({"fp"}, "w"));
  EXPECT_EQ(side.value("SELECT status || ' ' || attempts FROM processing_jobs "
                       "WHERE id = " +
                       std::to_string(id)),
            "failed 4");
}

TEST_F(QueueTest, RescueRequeuesStaleJobsAndFailsExhaustedOnes) {
  const auto a = jobs.create_job(job("stale", 0, 0ms, 3)).id;
  const auto b = jobs.create_job(job("exhausted", 0, 0ms, 0)).id;
  const auto c = jobs.create_job(job("alive")).id;
  ASSERT_EQ(jobs.claim_jobs({"fp"}, "dead-worker", 2).size(), 2u);
  ASSERT_EQ(jobs.claim_next_job({"fp"}, "live-worker")->id, c);
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval "
      "'10 minutes' WHERE locked_by = 'dead-worker'");

  sh_test::LogCapture log;
  const db::JobBackoff at_once{0ms, 0ms, 1.0};
  auto rescued = jobs.rescue_stale_jobs(1min, at_once);
  ASSERT_EQ(rescued.size(), 2u);
  EXPECT_EQ(rescued[0].id, a);
  EXPECT_EQ(rescued[0].status, "pending");
  EXPECT_EQ(rescued[0].retry_count, 1);
  EXPECT_FALSE(rescued[0].locked_by);
  EXPECT_NE(rescued[0].error_message->find("dead-worker"), std::string::npos);
  EXPECT_EQ(rescued[1].id, b);
  EXPECT_EQ(rescued[1].status, "failed");
  EXPECT_EQ(rescued[1].locked_by, "dead-worker") << "kept on a finished job";
  EXPECT_TRUE(log.contains("Rescued stale job: id=" + std::to_string(a)));
  EXPECT_TRUE(jobs.rescue_stale_jobs(1min).empty()) << "rescued twice";
  EXPECT_EQ(side.value("SELECT status FROM processing_jobs WHERE id = " +
                       std::to_string(c)),
            "running");

  EXPECT_THROW(jobs.complete_job(a, "dead-worker"), db::JobNotOwned);
  const auto again = jobs.claim_next_job({"fp"}, "live-worker");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, a);
  EXPECT_EQ(again->attempts, 2);
  jobs.complete_job(a, "live-worker");
}

// A job that kills its worker must not loop hot: the rescue counts a failed
// attempt and the job waits out the backoff, as fail_job's would.
TEST_F(QueueTest, ARescuedJobWaitsOutTheBackoff) {
  const auto id = jobs.create_job(job("killer", 0, 0ms, 2)).id;
  const db::JobBackoff backoff{2s, 1h, 10.0};
  const auto die = [&] {
    ASSERT_TRUE(jobs.claim_next_job({"fp"}, "dead"));
    side.exec(
        "UPDATE processing_jobs SET heartbeat_at = now() - interval "
        "'10 minutes' WHERE id = " +
        std::to_string(id));
  };
  die();
  auto rescued = jobs.rescue_stale_jobs(1min, backoff);
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].status, "pending");
  EXPECT_FALSE(jobs.claim_next_job({"fp"}, "next")) << "came back at once";
  EXPECT_EQ(side.value("SELECT run_at - now() BETWEEN interval '1.5 s' AND "
                       "interval '2 s' FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "t");
  // The second rescue waits initial * multiplier.
  side.exec("UPDATE processing_jobs SET run_at = now() WHERE id = " +
            std::to_string(id));
  die();
  rescued = jobs.rescue_stale_jobs(1min, backoff);
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(side.value("SELECT run_at - now() BETWEEN interval '19 s' AND "
                       "interval '20 s' FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "t");
  // Retries spent: failed, however the backoff is set.
  side.exec("UPDATE processing_jobs SET run_at = now() WHERE id = " +
            std::to_string(id));
  die();
  rescued = jobs.rescue_stale_jobs(1min, backoff);
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].status, "failed");
  EXPECT_EQ(jobs.get_job_errors(id).size(), 3u) << "each rescue is recorded";
  EXPECT_THROW((void)jobs.rescue_stale_jobs(1min, {1s, 0s, 2.0}),
               db::InvalidArgument);
}

// Full jitter is drawn per rescued job: the jobs of one dead worker do not
// come back in the same instant.
TEST_F(QueueTest, JobsRescuedTogetherComeBackSpreadOut) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 20; ++i) batch.push_back(job("t" + std::to_string(i)));
  (void)jobs.create_jobs_batch(batch);
  ASSERT_EQ(jobs.claim_jobs({"fp"}, "dead", 20).size(), 20u);
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval "
      "'10 minutes'");
  ASSERT_EQ(
      jobs.rescue_stale_jobs(1min, {.initial = 1h, .max = 1h, .jitter = 1.0})
          .size(),
      20u);
  EXPECT_GE(side.count("SELECT count(DISTINCT run_at) FROM processing_jobs"),
            18);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE run_at < "
                       "now() OR run_at > now() + interval '1 hour'"),
            0);
}

TEST_F(QueueTest, BatchCompletionLeavesLostJobsAlone) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(job("t" + std::to_string(i)));
  jobs.create_jobs_batch(batch);
  auto got = jobs.claim_jobs({"fp"}, "w", 5);
  ASSERT_EQ(got.size(), 5u);
  std::vector<std::int64_t> ids;
  for (const auto& j : got) ids.push_back(j.id);
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval "
      "'1 hour' WHERE id = " +
      std::to_string(ids[2]));
  ASSERT_EQ(jobs.rescue_stale_jobs(1min).size(), 1u);

  EXPECT_EQ(jobs.complete_jobs(ids, "w"), std::vector<std::int64_t>{ids[2]});
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'"),
            4);
  EXPECT_EQ(side.value("SELECT status FROM processing_jobs WHERE id = " +
                       std::to_string(ids[2])),
            "pending");
  EXPECT_TRUE(jobs.complete_jobs(ids, "w").size() == 1u)
      << "repeating a batch completion is harmless";
}

TEST_F(QueueTest, FusedCompleteAndClaimDrainsInOneCallPerJob) {
  for (int i = 0; i < 20; ++i) jobs.create_job(job("t" + std::to_string(i)));
  int done = 0;
  for (auto j = jobs.claim_next_job({"fp"}, "w"); j;
       j = jobs.complete_job_and_claim_next(j->id, "w", {"fp"})) {
    EXPECT_EQ(j->status, "running");
    ++done;
  }
  EXPECT_EQ(done, 20);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'"),
            20);

  // A lost job: the completion is refused and nothing is claimed.
  jobs.create_job(job("lost"));
  jobs.create_job(job("next"));
  const auto lost = jobs.claim_next_job({"fp"}, "w");
  side.exec("UPDATE processing_jobs SET status = 'cancelled' WHERE id = " +
            std::to_string(lost->id));
  EXPECT_THROW(jobs.complete_job_and_claim_next(lost->id, "w", {"fp"}),
               db::JobNotOwned);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending'"),
            1);
}

TEST_F(QueueTest, ReleasedJobsGoBackToTheFrontUnownedWithTheAttemptTakenBack) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(job("r" + std::to_string(i)));
  const auto ids = jobs.create_jobs_batch(batch);
  jobs.create_job(job("newer"));
  const auto got = jobs.claim_jobs({"fp"}, "w", 4);
  ASSERT_EQ(got.size(), 4u);
  // One of the batch was rescued and taken by another worker meanwhile.
  side.exec("UPDATE processing_jobs SET locked_by = 'other' WHERE id = " +
            std::to_string(ids[3]));
  const auto before_other = row(ids[3]);

  db::JobListener listener{database, {"fp"}};
  sh_test::LogCapture log;
  EXPECT_EQ(jobs.release_jobs({ids[1], ids[2], ids[3]}, "w"),
            std::vector<std::int64_t>{ids[3]});
  EXPECT_EQ(row(ids[3]), before_other) << "another worker's job changed";
  EXPECT_TRUE(log.contains("released 2 of 3 jobs"));
  EXPECT_TRUE(listener.wait_for_jobs(5s)) << "a release did not wake workers";
  for (auto id : {ids[1], ids[2]}) {
    EXPECT_EQ(side.value("SELECT concat_ws(',', status, attempts, locked_by IS "
                         "NULL, heartbeat_at IS NULL, started_at IS NULL) "
                         "FROM processing_jobs WHERE id = " +
                         std::to_string(id)),
              "pending,0,t,t,t");
  }
  // They keep their place: claimed again before the newer job.
  const auto again = jobs.claim_jobs({"fp"}, "w2", 2);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].id, ids[1]);
  EXPECT_EQ(again[1].id, ids[2]);
  EXPECT_EQ(again[0].attempts, 1) << "the released claim still counted";
  EXPECT_THROW(jobs.complete_job(ids[1], "w"), db::JobNotOwned);
  EXPECT_EQ(jobs.release_jobs({ids[1]}, "w"), std::vector<std::int64_t>{ids[1]})
      << "the old owner released a job it had lost";
  jobs.complete_job(ids[0], "w");
  EXPECT_TRUE(jobs.release_jobs({}, "w").empty());
}

TEST_F(QueueTest, PurgeDeletesOnlyFinishedJobsOlderThanTheCutoffInBatches) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(job("p" + std::to_string(i)));
  const auto ids = jobs.create_jobs_batch(batch);
  // ids[0..5]: finished long ago (completed, failed, cancelled, two each);
  // ids[6]: finished a minute ago; ids[7]: pending, created long ago;
  // ids[8]: running; ids[9]: pending.
  side.exec(
      "UPDATE processing_jobs SET status = (ARRAY['completed', 'failed', "
      "'cancelled'])[1 + (id - " +
      std::to_string(ids[0]) +
      ") % 3], "
      "completed_at = now() - interval '2 days' WHERE id BETWEEN " +
      std::to_string(ids[0]) + " AND " + std::to_string(ids[5]));
  side.exec(
      "UPDATE processing_jobs SET status = 'completed', completed_at = now() "
      "- interval '1 minute' WHERE id = " +
      std::to_string(ids[6]));
  side.exec(
      "UPDATE processing_jobs SET created_at = now() - interval '2 days' "
      "WHERE id = " +
      std::to_string(ids[7]));
  side.exec(
      "UPDATE processing_jobs SET status = 'running', started_at = now() - "
      "interval '2 days' WHERE id = " +
      std::to_string(ids[8]));

  EXPECT_EQ(jobs.purge_finished_jobs(24h, 4), 4);
  EXPECT_EQ(
      side.count("SELECT count(*) FROM processing_jobs WHERE id IN (" +
                 std::to_string(ids[0]) + "," + std::to_string(ids[1]) + "," +
                 std::to_string(ids[2]) + "," + std::to_string(ids[3]) + ")"),
      0)
      << "oldest first";
  EXPECT_EQ(jobs.purge_finished_jobs(24h, 4), 2);
  EXPECT_EQ(jobs.purge_finished_jobs(24h, 4), 0);
  EXPECT_EQ(side.value("SELECT string_agg(target_id, ',' ORDER BY id) FROM "
                       "processing_jobs"),
            "p6,p7,p8,p9");
  EXPECT_EQ(jobs.purge_finished_jobs(30s), 1);
  EXPECT_EQ(side.value("SELECT string_agg(target_id, ',' ORDER BY id) FROM "
                       "processing_jobs"),
            "p7,p8,p9");

  // A purged job no longer blocks idempotent creation for its target.
  EXPECT_TRUE(jobs.create_job_if_not_exists(job("p0"), {"completed"}).second);
  EXPECT_THROW(jobs.purge_finished_jobs(0ms), db::InvalidArgument);
  EXPECT_THROW(jobs.purge_finished_jobs(1h, 0), db::InvalidArgument);
}

// Purging also drops the creation-lock rows of keys left with no job at all
// (create_job_if_not_exists keeps one per key), but not one a creator holds.
TEST_F(QueueTest, PurgeDropsTheCreationLocksOfKeysLeftWithNoJob) {
  auto id_of = [&](const std::string& target) {
    return jobs.create_job_if_not_exists(job(target)).first.id;
  };
  const auto a = id_of("a");  // finished long ago: key purged
  const auto b = id_of("b");  // finished long ago, but a newer job follows
  id_of("c");                 // pending: nothing to purge
  const auto d = id_of("d");  // finished long ago, a creator holds its lock
  side.exec(
      "UPDATE processing_jobs SET status = 'completed', completed_at = "
      "now() - interval '2 days' WHERE id IN (" +
      std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(d) +
      ")");
  EXPECT_TRUE(jobs.create_job_if_not_exists(job("b")).second);
  auto locks = [&] {
    return side.value(
        "SELECT string_agg(target_id, ',' ORDER BY target_id) FROM "
        "soundhash_job_creation_locks");
  };
  ASSERT_EQ(locks(), "a,b,c,d");

  auto creator = database.session();  // re-creates d, uncommitted
  EXPECT_TRUE(
      db::JobRepository{creator}.create_job_if_not_exists(job("d")).second);
  EXPECT_EQ(jobs.purge_finished_jobs(24h), 3) << "a, b and d's old jobs";
  EXPECT_EQ(locks(), "b,c,d") << "only a is left with no job";
  creator.commit();
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE "
                       "target_id = 'd' AND status = 'pending'"),
            1);

  // A purged key is created again as usual, with a new lock row.
  EXPECT_TRUE(jobs.create_job_if_not_exists(job("a")).second);
  EXPECT_FALSE(jobs.create_job_if_not_exists(job("a")).second);
  EXPECT_EQ(locks(), "a,b,c,d");
}

// A dropped lock row cannot fool a REPEATABLE READ creator whose snapshot is
// older than the key's newest job: the new lock row that job's creator made
// is invisible to that snapshot, so its upsert fails with 40001 instead of
// creating a second live job.
TEST_F(QueueTest, AnOldSnapshotCannotCreateBesideAJobMadeAfterAPurge) {
  auto old = database.session({.isolation = db::Isolation::repeatable_read});
  (void)old.execute("SELECT 1");  // its snapshot starts here
  const auto first = jobs.create_job_if_not_exists(job("k")).first.id;
  side.exec(
      "UPDATE processing_jobs SET status = 'completed', completed_at = "
      "now() - interval '2 days' WHERE id = " +
      std::to_string(first));
  EXPECT_EQ(jobs.purge_finished_jobs(24h), 1);
  EXPECT_EQ(side.count("SELECT count(*) FROM soundhash_job_creation_locks"), 0);
  EXPECT_TRUE(jobs.create_job_if_not_exists(job("k")).second);
  EXPECT_THROW(db::JobRepository{old}.create_job_if_not_exists(job("k")),
               db::SerializationError);
  old.rollback();
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE "
                       "target_id = 'k'"),
            1);
}

// Two purgers at once never wait for each other and delete each job once;
// a failed job put back to pending meanwhile (a held row lock) is kept.
TEST_F(QueueTest, ConcurrentPurgersSplitTheWorkAndSkipRowsBeingChanged) {
  std::vector<db::NewJob> batch(2000, job("old"));
  const auto ids = jobs.create_jobs_batch(batch);
  side.exec(
      "UPDATE processing_jobs SET status = 'failed', completed_at = now() - "
      "interval '1 day'");
  auto retrier = database.session();
  retrier.execute("UPDATE processing_jobs SET status = 'pending' WHERE id = $1",
                  ids[0]);  // uncommitted: its row is locked

  std::atomic<std::int64_t> deleted{0};
  std::vector<std::thread> purgers;
  for (int t = 0; t < 2; ++t) {
    purgers.emplace_back([&] {
      auto p = database.autocommit_session();
      db::JobRepository repo{p};
      while (const auto n = repo.purge_finished_jobs(1h, 50)) deleted += n;
    });
  }
  for (auto& t : purgers) t.join();
  retrier.commit();
  EXPECT_EQ(deleted.load(), 1999);
  EXPECT_EQ(side.value("SELECT string_agg(id::text || ':' || status, ',') "
                       "FROM processing_jobs"),
            std::to_string(ids[0]) + ":pending");
}

TEST_F(QueueTest, OldestRunnableWaitIsTheQueuesLag) {
  EXPECT_FALSE(jobs.oldest_runnable_wait()) << "an empty queue has no lag";
  jobs.create_job(job("future", 0, 1h));
  EXPECT_FALSE(jobs.oldest_runnable_wait()) << "a job not yet runnable";
  const auto a = jobs.create_job(job("waiting")).id;
  db::NewJob other = job("other");
  other.job_type = "other";
  const auto b = jobs.create_job(other).id;
  side.exec(
      "UPDATE processing_jobs SET run_at = now() - interval '90 seconds' "
      "WHERE id = " +
      std::to_string(a));
  side.exec(
      "UPDATE processing_jobs SET run_at = now() - interval '10 minutes' "
      "WHERE id = " +
      std::to_string(b));

  const auto all = jobs.oldest_runnable_wait();
  ASSERT_TRUE(all);
  EXPECT_GE(*all, 10min);
  EXPECT_LT(*all, 11min);
  const auto fp = jobs.oldest_runnable_wait({"fp"});
  ASSERT_TRUE(fp);
  EXPECT_GE(*fp, 90s);
  EXPECT_LT(*fp, 2min);
  EXPECT_FALSE(jobs.oldest_runnable_wait({"nobody"}));

  // A claimed job is no longer waiting.
  ASSERT_EQ(jobs.claim_next_job({"other"}, "w")->id, b);
  const auto after = jobs.oldest_runnable_wait();
  ASSERT_TRUE(after);
  EXPECT_LT(*after, 2min);
}

// A column added by a later migration trails the rows this code reads, so a
// binary built before it keeps working while the schema moves on.
TEST_F(QueueTest, AColumnAddedLaterDoesNotShiftWhatIsRead) {
  side.exec(
      "ALTER TABLE processing_jobs ADD COLUMN added_later integer "
      "NOT NULL DEFAULT 7");
  auto [made, created] = jobs.create_job_if_not_exists("fp", "later");
  EXPECT_TRUE(created);
  EXPECT_EQ(made.target_id, "later");
  const auto j = jobs.claim_next_job({"fp"}, "w");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->locked_by, "w");
  const auto f = jobs.fail_job(j->id, "w", "again", {0ms, 0ms, 1.0});
  EXPECT_EQ(f.status, "pending");
  const auto k = jobs.claim_next_job({"fp"}, "w");
  ASSERT_TRUE(k);
  jobs.create_job("fp", "next");
  const auto next = jobs.complete_job_and_claim_next(k->id, "w", {"fp"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->target_id, "next");
  EXPECT_EQ(next->attempts, 1);
}
