// The work queue's claims against a real server: claim order, batches and
// several types from many threads, and what a claim (or a call on a claimed
// job) reads and locks. Multi-process drains are in
// tests/faults/queue_test.cpp.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::QueueTest;

TEST_F(QueueTest, ClaimTakesPriorityThenRunAtThenIdAndMarksTheJob) {
  jobs.create_job(job("late", 0));
  jobs.create_job(job("urgent", -5));
  jobs.create_job(job("later", 0));
  jobs.create_job(job("future", -10, 1h));
  jobs.create_job("other_type", "x");
  side.exec(
      "UPDATE processing_jobs SET run_at = run_at - interval '1 minute' "
      "WHERE target_id = 'later'");  // became runnable first

  std::vector<std::string> order;
  while (auto j = jobs.claim_next_job({"fp"}, "w1")) {
    EXPECT_EQ(j->status, "running");
    EXPECT_EQ(j->locked_by, "w1");
    EXPECT_EQ(j->attempts, 1);
    EXPECT_TRUE(j->started_at && j->heartbeat_at);
    order.push_back(j->target_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "later", "late"}));
  EXPECT_EQ(side.value("SELECT status FROM processing_jobs WHERE target_id = "
                       "'future'"),
            "pending")
      << "a job whose run_at is ahead must not be claimed";
  EXPECT_EQ(jobs.claim_next_job({"fp", "other_type"}, "w1")->target_id, "x");
}

TEST_F(QueueTest, IdempotentCreationTakesPriorityRetriesAndDelay) {
  auto [made, created] = jobs.create_job_if_not_exists(job("once", -3, 1h, 7));
  EXPECT_TRUE(created);
  EXPECT_EQ(made.priority, -3);
  EXPECT_EQ(made.max_retries, 7);
  EXPECT_EQ(side.value("SELECT run_at - created_at BETWEEN interval '59 "
                       "minutes' AND interval '61 minutes' FROM "
                       "processing_jobs WHERE id = " +
                       std::to_string(made.id)),
            "t");
  auto [again, created_again] = jobs.create_job_if_not_exists(job("once"));
  EXPECT_FALSE(created_again);
  EXPECT_EQ(again.id, made.id);
  EXPECT_FALSE(jobs.claim_next_job({"fp"}, "w")) << "its delay is ahead";
  EXPECT_THROW(jobs.create_job_if_not_exists(job("bad", 0, -1ms)),
               db::InvalidArgument);
}

TEST_F(QueueTest, BatchClaimsFromFourThreadsNeverShareAJob) {
  std::vector<db::NewJob> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(job("t" + std::to_string(i)));
  const auto ids = jobs.create_jobs_batch(batch);
  ASSERT_EQ(ids.size(), 300u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(side.value("SELECT target_id FROM processing_jobs WHERE id = " +
                       std::to_string(ids[17])),
            "t17")
      << "ids come back in the order of the input";

  const auto claimed =
      four_workers([](db::JobRepository& q, const std::string& me, int) {
        std::vector<std::int64_t> done;
        for (;;) {
          auto got = q.claim_jobs({"fp"}, me, 7);
          if (got.empty()) return done;
          EXPECT_LE(got.size(), 7u);
          for (std::size_t i = 1; i < got.size(); ++i)
            EXPECT_LT(got[i - 1].id, got[i].id) << "claim order";
          std::vector<std::int64_t> mine;
          for (const auto& j : got) mine.push_back(j.id);
          EXPECT_TRUE(q.complete_jobs(mine, me).empty());
          done.insert(done.end(), mine.begin(), mine.end());
        }
      });
  EXPECT_EQ(claimed, ids) << "every job claimed exactly once";
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed' AND progress = 100 AND attempts = 1"),
            300);
}

TEST_F(QueueTest, ClaimsOverSeveralTypesFollowOneOrderAcrossThem) {
  // Types and priorities interleaved, so that no type's jobs are contiguous
  // in claim order.
  const char* types[] = {"a", "b", "c", "skip"};
  for (int i = 0; i < 24; ++i) {
    jobs.create_job(
        job_of(types[i % 4], "t" + std::to_string(i), (i * 7) % 5 - 2));
  }
  // The order every claim must follow, whatever the types' order in the call.
  const auto pending_in_order = [&](const std::string& types_sql) {
    return side.value(
        "SELECT string_agg(id::text, ',' ORDER BY priority, run_at, id) FROM "
        "processing_jobs WHERE status = 'pending' AND job_type IN (" +
        types_sql + ")");
  };
  const auto joined = [](const std::vector<std::int64_t>& ids) {
    std::string out;
    for (auto id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
    return out;
  };

  std::string listed;
  for (const auto& j : jobs.get_pending_jobs(std::nullopt, 100)) {
    listed += (listed.empty() ? "" : ",") + std::to_string(j.id);
  }
  EXPECT_EQ(listed, pending_in_order("'a', 'b', 'c', 'skip'"));
  EXPECT_EQ(jobs.get_pending_jobs(std::nullopt, 5).size(), 5u);

  const auto front = pending_in_order("'a', 'c'");
  std::vector<std::int64_t> batch;
  for (const auto& j : jobs.claim_jobs({"c", "a"}, "w", 4)) {
    batch.push_back(j.id);
  }
  EXPECT_EQ(joined(batch) + ",", front.substr(0, joined(batch).size() + 1));
  ASSERT_EQ(batch.size(), 4u);

  const auto rest = pending_in_order("'a', 'b', 'c'");
  std::vector<std::int64_t> one_by_one;
  while (auto j = jobs.claim_next_job({"b", "c", "a", "b"}, "w")) {
    one_by_one.push_back(j->id);  // "b" given twice: still each job once
  }
  EXPECT_EQ(joined(one_by_one), rest);
  EXPECT_EQ(one_by_one.size(), 14u);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE job_type "
                       "= 'skip' AND status = 'pending'"),
            6);
}

TEST_F(QueueTest, ARepeatedTypeDoesNotFillABatchWithOneJobTwice) {
  const auto first = jobs.create_job(job("x")).id;
  const auto second = jobs.create_job(job("y")).id;
  jobs.create_job(job("z"));
  const auto got = jobs.claim_jobs({"fp", "fp"}, "w", 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, first);
  EXPECT_EQ(got[1].id, second);
  const auto next = jobs.complete_job_and_claim_next(first, "w", {"fp", "fp"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->target_id, "z");
}

// Without a per-type index, a claim of a rare type walked (and fetched) every
// pending job of the other types ahead of it in claim order. The counters of
// the claiming transaction show what the claim read.
TEST_F(QueueTest, ARareTypeIsClaimedWithoutReadingTheBacklogOfOthers) {
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id) SELECT 'fp', 'v' || "
      "g FROM generate_series(1, 20000) g");
  const auto id = jobs.create_job(job_of("rare", "rare-one")).id;
  side.exec("ANALYZE processing_jobs");

  auto tx = database.session();
  db::JobRepository q{tx};
  const auto got = q.claim_next_job({"rare"}, "w");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, id);
  const auto read = rows_read(tx);
  EXPECT_LT(read, 100) << "the claim read rows of other types";
  // Beside the rare type, a common one is still claimed in one order.
  const auto common = q.claim_next_job({"fp", "rare"}, "w");
  ASSERT_TRUE(common);
  EXPECT_EQ(common->target_id, "v1");
}

// A claim over several types locks only the jobs it takes: another worker
// finds the other types' fronts free even while the claiming transaction
// lasts (were they locked, it would find nothing and go to sleep with a job
// runnable). When the first candidates are held by others, the claim looks
// further, in order.
TEST_F(QueueTest, ASeveralTypeClaimLocksOnlyTheJobsItTakes) {
  const auto create = [&](const char* type, const char* target, int prio) {
    return jobs.create_job(job_of(type, target, prio)).id;
  };
  const auto a1 = create("a", "a1", 0);
  const auto b1 = create("b", "b1", 1);
  const auto a2 = create("a", "a2", 0);
  const auto a3 = create("a", "a3", 2);
  const auto b2 = create("b", "b2", 1);
  const auto b3 = create("b", "b3", 1);
  auto other = database.autocommit_session();
  db::JobRepository elsewhere{other};
  {
    auto tx = database.session();
    db::JobRepository scoped{tx};
    ASSERT_EQ(scoped.claim_next_job({"a", "b"}, "w1")->id, a1);
    const auto got = elsewhere.claim_next_job({"b"}, "w2");
    ASSERT_TRUE(got) << "the scope holds the front of b";
    EXPECT_EQ(got->id, b1);
    // a2 is next in claim order; hold it, and a batch over both types
    // must go past it to b2, b3, then a3.
    auto tx2 = database.session();
    db::JobRepository holder{tx2};
    ASSERT_EQ(holder.claim_next_job({"a"}, "w3")->id, a2);
    std::vector<std::int64_t> batch;
    for (const auto& j : elsewhere.claim_jobs({"b", "a"}, "w2", 3)) {
      batch.push_back(j.id);
    }
    EXPECT_EQ(batch, (std::vector<std::int64_t>{b2, b3, a3}));
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending'"),
            0);
}

// The table's statistics cover its history. When the wanted type is most
// of that history, an index over all types would look as good to the
// planner as the type's own, and a claim would walk another type's pending
// backlog again; there is no such index to choose.
TEST_F(QueueTest, ATypeThatIsMostOfTheHistoryIsStillClaimedFromItsOwnIndex) {
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id, status) SELECT "
      "'fp', 'old' || g, 'completed' FROM generate_series(1, 30000) g");
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id, priority) SELECT "
      "'match', 'm' || g, -1 FROM generate_series(1, 5000) g");
  const auto id = jobs.create_job(job("new")).id;
  side.exec("ANALYZE processing_jobs");

  auto tx = database.session();
  db::JobRepository q{tx};
  for (int i = 0; i < 8; ++i) {  // past the server's switch to a generic plan
    const auto got = q.claim_next_job({"fp"}, "w");
    ASSERT_EQ(got ? got->id : 0, i == 0 ? id : 0);
  }
  const auto read = rows_read(tx);
  EXPECT_LT(read, 100) << "the claims walked the pending jobs of 'match'";
}

// The calls that name a claimed job (heartbeat, complete, fail, the fused
// complete-and-claim) find it by its id even when the statistics were taken
// while nothing ran. The running jobs' index then looks empty to the
// planner, and a call that also says status = 'running' read all of it:
// every call read every running job. Rescue has an index of its own.
TEST_F(QueueTest, CallsOnAJobReadItByIdHoweverManyOthersRun) {
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id) SELECT 'busy', "
      "'b' || g FROM generate_series(1, 5000) g");
  for (const char* t : {"m1", "m2", "m3"}) jobs.create_job(job(t));
  keep_statistics();
  side.exec("ANALYZE processing_jobs");  // nothing runs yet
  side.exec(
      "UPDATE processing_jobs SET status = 'running', locked_by = 'other', "
      "started_at = now(), heartbeat_at = now() WHERE job_type = 'busy'");
  const auto mine = jobs.claim_jobs({"fp"}, "w", 3);
  ASSERT_EQ(mine.size(), 3u);

  auto tx = database.session();
  db::JobRepository q{tx};
  for (int i = 0; i < 8; ++i) {  // past the server's switch to a generic plan
    q.heartbeat(mine[0].id, "w", 10.0 * i);
  }
  q.complete_job(mine[0].id, "w");
  q.fail_job(mine[1].id, "w", "flaky");
  EXPECT_FALSE(q.complete_job_and_claim_next(mine[2].id, "w", {"fp"}));
  EXPECT_EQ(q.complete_jobs({mine[0].id}, "w"), std::vector<std::int64_t>{});
  const auto read = rows_read(tx);
  EXPECT_LT(read, 100) << "the calls read the running jobs of others";
  tx.commit();

  // Rescue reads the stale jobs alone, not every running one.
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval '2 hours' "
      "WHERE target_id = 'b7'");
  auto rescuer = database.session();
  const auto rescued = db::JobRepository{rescuer}.rescue_stale_jobs(1h);
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].target_id, "b7");
  EXPECT_LT(rows_read(rescuer), 100) << "rescue read fresh running jobs";
}

// The same for pending jobs: a claim over several types locks its chosen
// jobs by id. With statistics taken while nothing was pending (an idle
// queue, then a burst), that step read every pending job per claim.
TEST_F(QueueTest, ASeveralTypeClaimAfterABurstReadsFewRows) {
  burst_after_idle_statistics("CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END");

  auto tx = database.session();
  db::JobRepository q{tx};
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(q.claim_next_job({"a", "b"}, "w"));
  }
  EXPECT_LT(rows_read(tx), 100) << "the claims read the whole backlog";
}

// Idempotent creation finds a key's jobs through the key's index, not the
// pending jobs' index, whatever statuses it checks: checking {"pending"}
// after a burst read every pending job of the type.
TEST_F(QueueTest, CreationAfterABurstReadsFewRows) {
  burst_after_idle_statistics("'fp'");

  auto tx = database.session();
  db::JobRepository q{tx};
  for (int i = 0; i < 8; ++i) {
    const auto [found, created] = q.create_job_if_not_exists(
        "fp", "n" + std::to_string(i + 1), std::nullopt, {"pending"});
    EXPECT_FALSE(created);
    EXPECT_EQ(found.status, "pending");
  }
  EXPECT_TRUE(
      q.create_job_if_not_exists("fp", "fresh", std::nullopt, {"pending"})
          .second);
  EXPECT_LT(rows_read(tx), 100) << "creation read the pending jobs";
}

// Listing and watching the queue read its pending jobs, not its history.
TEST_F(QueueTest, ListingAndWatchingTheQueueReadNoHistory) {
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id, status) SELECT "
      "'fp', 'old' || g, 'completed' FROM generate_series(1, 20000) g");
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id) SELECT 'fp', 'n' || "
      "g FROM generate_series(1, 300) g");
  side.exec("ANALYZE processing_jobs");

  auto tx = database.session();
  db::JobRepository q{tx};
  EXPECT_TRUE(q.oldest_runnable_wait());
  EXPECT_TRUE(q.oldest_runnable_wait({"fp"}));
  EXPECT_EQ(q.get_pending_jobs(std::nullopt, 5).size(), 5u);
  EXPECT_EQ(q.get_pending_jobs("fp", 5).size(), 5u);
  EXPECT_LT(rows_read(tx), 2000) << "a call read finished jobs";
}

TEST_F(QueueTest, FusedClaimsOverSeveralTypesFromFourThreadsNeverShareAJob) {
  std::vector<db::NewJob> batch;
  const char* types[] = {"a", "b", "c"};
  for (int i = 0; i < 300; ++i) {
    batch.push_back(job_of(types[i % 3], "t" + std::to_string(i), i % 3));
  }
  const auto ids = jobs.create_jobs_batch(batch);
  const auto claimed =
      four_workers([](db::JobRepository& q, const std::string& me, int t) {
        // Each thread names the types in its own order.
        std::vector<std::string> mine{"a", "b", "c"};
        std::rotate(mine.begin(), mine.begin() + t % 3, mine.end());
        std::vector<std::int64_t> done;
        for (auto j = q.claim_next_job(mine, me); j;
             j = q.complete_job_and_claim_next(j->id, me, mine)) {
          done.push_back(j->id);
        }
        return done;
      });
  EXPECT_EQ(claimed, ids) << "every job claimed exactly once";
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed' AND attempts = 1"),
            300);
}
