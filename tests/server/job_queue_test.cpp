// The work queue against a real server: claim order, ownership, backoff,
// rescue, batch completion, the fused loop, and wake-ups. Multi-process
// drains and killed workers are in tests/faults/queue_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::RepoTest;

namespace {

class QueueTest : public RepoTest {
 protected:
  db::NewJob job(std::string target, int priority = 0,
                 std::chrono::milliseconds delay = 0ms, int max_retries = 3) {
    db::NewJob j;
    j.job_type = "fp";
    j.target_id = std::move(target);
    j.priority = priority;
    j.delay = delay;
    j.max_retries = max_retries;
    return j;
  }
  db::NewJob job_of(std::string type, std::string target, int priority = 0) {
    db::NewJob j = job(std::move(target), priority);
    j.job_type = std::move(type);
    return j;
  }
  std::string row(std::int64_t id) {
    return side.value("SELECT p::text FROM processing_jobs p WHERE id = " +
                      std::to_string(id));
  }
  // Kills the backend of the (one) JobListener connected to this database.
  void kill_listener_backend() {
    const auto pid = side.count(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN "
        "soundhash_jobs%' AND datname = current_database()");
    sh_test::Side(sh_test::admin_conninfo()).terminate(static_cast<int>(pid));
  }
  // Runs `work(repo, worker_id, t)` in threads 0..3, each with its own
  // autocommit session; returns the ids they report, sorted.
  template <typename Work>
  std::vector<std::int64_t> four_workers(Work work) {
    std::mutex m;
    std::vector<std::int64_t> all;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto ws = database.autocommit_session();
        db::JobRepository q{ws};
        const auto mine = work(q, "w" + std::to_string(t), t);
        std::lock_guard lock(m);
        all.insert(all.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : threads) t.join();
    std::sort(all.begin(), all.end());
    return all;
  }
  // Rows of processing_jobs that `tx`'s transaction has read so far (by
  // sequential scans and fetched through indexes).
  static std::int64_t rows_read(db::Session& tx) {
    const auto n = tx.read(
                         "SELECT seq_tup_read + idx_tup_fetch FROM "
                         "pg_stat_xact_user_tables WHERE relname = "
                         "'processing_jobs'")
                       .one()[0]
                       .as<std::int64_t>();
    EXPECT_GT(n, 0) << "no counts: is track_counts off?";
    return n;
  }
  // Statistics stay as the test's ANALYZE left them: an autovacuum ANALYZE
  // in between would make the tests of stale statistics pass vacuously.
  void keep_statistics() {
    side.exec("ALTER TABLE processing_jobs SET (autovacuum_enabled = off)");
  }
  // A queue whose statistics were taken while it was idle (20,000 finished
  // jobs), then a burst of 10,000 pending jobs n1..n10000, of the type
  // `type_sql` gives for row g.
  void burst_after_idle_statistics(const std::string& type_sql) {
    keep_statistics();
    side.exec(
        "INSERT INTO processing_jobs (job_type, target_id, status) SELECT "
        "'fp', 'old' || g, 'completed' FROM generate_series(1, 20000) g");
    side.exec("ANALYZE processing_jobs");
    side.exec("INSERT INTO processing_jobs (job_type, target_id) SELECT " +
              type_sql + ", 'n' || g FROM generate_series(1, 10000) g");
  }
  // A pointer: a Session member would make the fixture's destructor
  // noexcept(false).
  std::unique_ptr<db::Session> s{
      new db::Session(database.autocommit_session())};
  db::JobRepository jobs{*s};
};

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
  auto rescued = jobs.rescue_stale_jobs(1min);
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

// ---- Autocommit sessions ---------------------------------------------------

TEST_F(QueueTest, AutocommitCallsAreDurableWhenTheyReturn) {
  auto a = database.autocommit_session();
  db::JobRepository q{a};
  q.create_job("fp", "durable");
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 1)
      << "visible to others before the session's scope ends";
  EXPECT_FALSE(a.in_transaction());
  EXPECT_EQ(database.pool_stats().in_use, 0u)
      << "the connection goes back between calls";

  // A failing call undoes only itself; earlier calls stay committed.
  EXPECT_THROW(q.create_job("fp", std::string(300, 'x')), db::DataError);
  q.create_job("fp", "after");
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2);
}

TEST_F(QueueTest, AutocommitMultiStatementCallIsStillOneTransaction) {
  auto a = database.autocommit_session();
  EXPECT_THROW(a.call("two",
                      [&] {
                        a.execute(
                            "INSERT INTO processing_jobs (job_type, "
                            "target_id) VALUES ('fp', 'first')");
                        a.execute(
                            "INSERT INTO processing_jobs (job_type, "
                            "target_id) VALUES ('fp', $1)",
                            std::string(300, 'x'));
                      }),
               db::DataError);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 0)
      << "the first statement of a failed call was committed";
  a.call("two", [&] {
    a.execute(
        "INSERT INTO processing_jobs (job_type, target_id) VALUES "
        "('fp', 'a')");
    a.execute(
        "INSERT INTO processing_jobs (job_type, target_id) VALUES "
        "('fp', 'b')");
  });
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2);
  EXPECT_THROW(a.call("bad",
                      [&] {
                        a.execute_final("SELECT 1");
                        a.execute("SELECT 2");
                      }),
               std::logic_error);
}

TEST_F(QueueTest, AutocommitRetriesALockTimeoutWithNothingHeld) {
  const auto id = jobs.create_job(job("locked")).id;
  jobs.claim_next_job({"fp"}, "w");
  auto cfg = sh_test::config();
  cfg.conninfo += " options='-c lock_timeout=100'";
  db::Database timed{cfg};
  auto a = timed.autocommit_session();
  db::JobRepository q{a};

  sh_test::Side locker;
  locker.exec("BEGIN; SELECT 1 FROM processing_jobs WHERE id = " +
              std::to_string(id) + " FOR UPDATE");
  sh_test::clear_sleeps();
  EXPECT_THROW(q.heartbeat(id, "w"), db::LockNotAvailableError);
  EXPECT_EQ(sh_test::sleeps().size(), 3u) << "retried with backoff";
  locker.exec("ROLLBACK");
  q.heartbeat(id, "w");
}

// A backend killed while it runs an autocommit write answers the write with
// its goodbye (57P01): replies come in order, so the COMMIT queued behind the
// write never ran, and the write is retried like any first call. (A COMMIT
// whose own answer is lost is in doubt: Kill.AutocommitCommitWhoseAnswerIsLost
// IsCommitInDoubt.)
TEST_F(QueueTest, AutocommitWriteKilledBeforeItsCommitIsRetriedReadToo) {
  side.exec(
      "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$; CREATE TRIGGER slow "
      "BEFORE INSERT ON channels FOR EACH ROW EXECUTE FUNCTION slow_insert()");
  auto a = database.autocommit_session();
  const int pid = a.backend_pid();
  a.rollback();  // back to the pool; the next call reuses the connection
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    sh_test::Side(sh_test::admin_conninfo()).terminate(pid);
  });
  sh_test::clear_sleeps();
  a.execute("INSERT INTO channels (channel_id) VALUES ('c')");
  killer.join();
  EXPECT_EQ(sh_test::sleeps().size(), 1u) << "the write was not retried";
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);

  const int pid2 = a.backend_pid();
  a.rollback();
  std::thread killer2([&] {
    std::this_thread::sleep_for(200ms);
    sh_test::Side(sh_test::admin_conninfo()).terminate(pid2);
  });
  EXPECT_EQ(a.read("SELECT 7 FROM pg_sleep(0.5)").one()[0].as<int>(), 7);
  killer2.join();
  EXPECT_EQ(sh_test::sleeps().size(), 2u) << "a lost read is simply retried";
}

TEST_F(QueueTest, AsynchronousCommitIsSetPerTransactionOnly) {
  side.exec(
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
      "synchronous_commit = on', current_database()); END $$");
  db::Database fresh{sh_test::config()};
  const std::string q = "SELECT current_setting('synchronous_commit')";
  auto setting = [&](db::TxOptions o, bool autocommit) {
    if (autocommit) {
      auto a = fresh.autocommit_session(o);
      return a.execute(q).one()[0].as<std::string>();
    }
    auto unit = fresh.session(o);
    return unit.execute(q).one()[0].as<std::string>();
  };
  EXPECT_EQ(setting({}, false), "on");
  EXPECT_EQ(setting({.synchronous_commit = false}, false), "off");
  EXPECT_EQ(setting({.synchronous_commit = false}, true), "off");
  EXPECT_EQ(setting({}, true), "on") << "SET LOCAL leaked into the pool";
  EXPECT_EQ(fresh.pool_stats().open, 1u) << "all on one pooled connection";

  auto a = fresh.autocommit_session({.synchronous_commit = false});
  db::JobRepository async_jobs{a};
  const auto id = async_jobs.create_job("fp", "async").id;
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            1);
}

// ---- Wake-ups
// ----------------------------------------------------------------

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

}  // namespace

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
