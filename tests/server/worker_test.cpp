// db::Worker against the real server: handlers complete or fail their jobs,
// heartbeats carry progress, a job taken away raises the context's flag,
// stop() keeps its deadline and releases what did not finish, an elected
// rescuer returns stale jobs, and idle threads wake on NOTIFY.
#include <atomic>
#include <chrono>
#include <soundhash/db/worker.hpp>
#include <stdexcept>
#include <thread>

#include "queue_fixture.hpp"

namespace sh_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class WorkerTest : public QueueTest {
 protected:
  // Fast timers, so that tests take fractions of a second.
  static db::WorkerOptions fast(int threads = 2) {
    db::WorkerOptions o;
    o.threads = threads;
    o.name = "wt";
    o.poll = 200ms;
    o.heartbeat_every = 50ms;
    o.stale_after = 0ms;
    o.stop_deadline = 2s;
    o.backoff = {.initial = 10ms, .max = 10ms};
    return o;
  }
  void enqueue(int n, const std::string& type = "fp") {
    std::vector<db::NewJob> batch;
    for (int i = 0; i < n; ++i)
      batch.push_back(job_of(type, std::to_string(i)));
    (void)jobs.create_jobs_batch(batch);
  }
  // Waits up to 5 s for `sql` to return `want`.
  bool eventually(const std::string& sql, const std::string& want) {
    const auto until = Clock::now() + 5s;
    while (Clock::now() < until) {
      if (side.value(sql) == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return side.value(sql) == want;
  }
};

TEST_F(WorkerTest, AReturningHandlerCompletesAndAThrowingOneFailsWithBackoff) {
  enqueue(60);
  enqueue(10, "other");
  auto o = fast(3);
  o.until_idle = true;
  db::Worker worker{database, o};
  std::atomic<int> runs{0};
  worker.on("fp", [&](db::JobContext& c) {
    ++runs;
    if (std::stoi(c.job().target_id) % 6 == 0 && c.job().attempts == 1) {
      throw std::runtime_error("first attempt fails");
    }
  });
  const auto stats = worker.run();
  EXPECT_EQ(stats.completed, 60);
  EXPECT_EQ(stats.failed, 10);
  EXPECT_EQ(runs.load(), 70);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE job_type = "
                       "'fp' AND status = 'completed' AND progress = 100"),
            60);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE job_type = "
                       "'fp' AND retry_count = 1 AND attempts = 2 AND "
                       "error_message = 'first attempt fails'"),
            10);
  // A type without a handler is left alone.
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE job_type = "
                       "'other' AND status = 'pending' AND attempts = 0"),
            10);
}

TEST_F(WorkerTest, HeartbeatsCarryProgressWhileTheHandlerRuns) {
  const auto id = jobs.create_job(job("slow")).id;
  db::Worker worker{database, fast(1)};
  std::string seen_progress, seen_beats;
  worker.on("fp", [&](db::JobContext& c) {
    c.progress(40, "decoding");
    std::this_thread::sleep_for(300ms);  // several heartbeat periods
    Side look;
    seen_progress = look.value(
        "SELECT progress || ' ' || current_step FROM processing_jobs WHERE "
        "id = " +
        std::to_string(c.job().id));
    seen_beats = look.value(
        "SELECT heartbeat_at > started_at FROM processing_jobs WHERE id = " +
        std::to_string(c.job().id));
  });
  worker.start();
  ASSERT_TRUE(eventually(
      "SELECT status FROM processing_jobs WHERE id = " + std::to_string(id),
      "completed"));
  EXPECT_TRUE(worker.stop());
  EXPECT_EQ(seen_progress, "40 decoding");
  EXPECT_EQ(seen_beats, "t");
  EXPECT_EQ(worker.stats().completed, 1);
}

TEST_F(WorkerTest, AJobTakenAwayRaisesTheFlagWithinAHeartbeat) {
  const auto id = jobs.create_job(job("taken")).id;
  db::Worker worker{database, fast(1)};
  std::atomic<bool> running{false}, saw_flag{false};
  worker.on("fp", [&](db::JobContext& c) {
    running = true;
    const auto until = Clock::now() + 5s;
    while (!c.cancelled() && Clock::now() < until) {
      std::this_thread::sleep_for(2ms);
    }
    saw_flag = c.cancelled();
  });
  worker.start();
  while (!running) std::this_thread::sleep_for(2ms);
  // What an operator's cancellation does to the row.
  side.exec(
      "UPDATE processing_jobs SET status = 'cancelled', completed_at = "
      "now() WHERE id = " +
      std::to_string(id));
  const auto taken = Clock::now();
  while (!saw_flag && Clock::now() - taken < 5s) {
    std::this_thread::sleep_for(2ms);
  }
  // One heartbeat period (50 ms) plus the timer's tick and a round trip.
  EXPECT_LT(Clock::now() - taken, 500ms);
  EXPECT_TRUE(saw_flag.load());
  EXPECT_TRUE(worker.stop());
  EXPECT_EQ(worker.stats().lost, 1);
  EXPECT_EQ(worker.stats().completed, 0);
  EXPECT_EQ(side.value("SELECT status FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "cancelled");
}

TEST_F(WorkerTest, StopPastTheDeadlineReleasesTheJobsStillRunning) {
  enqueue(2);
  auto o = fast(2);
  o.stop_deadline = 200ms;
  db::Worker worker{database, o};
  std::atomic<int> started{0};
  worker.on("fp", [&](db::JobContext& c) {
    ++started;
    while (!c.cancelled()) std::this_thread::sleep_for(5ms);
    throw std::runtime_error("gave up");
  });
  worker.start();
  while (started < 2) std::this_thread::sleep_for(5ms);
  const auto t0 = Clock::now();
  EXPECT_FALSE(worker.stop());  // the handlers ran past the deadline
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(worker.stats().released, 2);
  EXPECT_EQ(worker.stats().failed, 0);
  // Back in the queue as if never claimed, for another worker.
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND attempts = 0 AND locked_by IS NULL AND "
                       "retry_count = 0"),
            2);
  auto o2 = fast(1);
  o2.until_idle = true;
  o2.name = "second";
  db::Worker second{database, o2};
  second.on("fp", [](db::JobContext&) {});
  EXPECT_EQ(second.run().completed, 2);
}

TEST_F(WorkerTest, StopWithinTheDeadlineFinishesTheJobsInHand) {
  enqueue(200);
  db::Worker worker{database, fast(2)};
  std::atomic<int> started{0};
  worker.on("fp", [&](db::JobContext&) {
    ++started;
    std::this_thread::sleep_for(2ms);
  });
  worker.start();
  while (started < 20) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(worker.stop());
  const auto st = worker.stats();
  // Every handler that started completed; nothing is left running; what a
  // claim took after the stop request went back unstarted.
  EXPECT_EQ(st.completed, started.load());
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'running'"),
            0);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'"),
            st.completed);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND attempts = 0"),
            200 - st.completed);
}

TEST_F(WorkerTest, OneElectedWorkerRescuesStaleJobsWhichThenRun) {
  const auto id = jobs.create_job(job("orphan")).id;
  side.exec(
      "UPDATE processing_jobs SET status = 'running', attempts = 1, "
      "locked_by = 'dead:1:0', started_at = now() - interval '1 hour', "
      "heartbeat_at = now() - interval '1 hour' WHERE id = " +
      std::to_string(id));
  auto o = fast(1);
  o.stale_after = 500ms;
  o.rescue_every = 50ms;
  std::vector<std::unique_ptr<db::Worker>> workers;
  for (int i = 0; i < 3; ++i) {
    o.name = "r" + std::to_string(i);
    workers.push_back(std::make_unique<db::Worker>(database, o));
    workers.back()->on("fp", [](db::JobContext&) {});
    workers.back()->start();
  }
  ASSERT_TRUE(eventually(
      "SELECT status FROM processing_jobs WHERE id = " + std::to_string(id),
      "completed"));
  std::int64_t rescued = 0, completed = 0;
  for (auto& w : workers) {
    EXPECT_TRUE(w->stop());
    rescued += w->stats().rescued;
    completed += w->stats().completed;
  }
  EXPECT_EQ(rescued, 1);
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(side.count("SELECT retry_count FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            1);
}

TEST_F(WorkerTest, AnIdleWorkerWakesOnNotify) {
  auto o = fast(2);
  o.poll = 30s;
  db::Worker worker{database, o};
  worker.on("fp", [](db::JobContext&) {});
  worker.start();
  std::this_thread::sleep_for(100ms);  // both threads asleep on LISTEN
  const auto id = jobs.create_job(job("late")).id;
  const auto t0 = Clock::now();
  ASSERT_TRUE(eventually(
      "SELECT status FROM processing_jobs WHERE id = " + std::to_string(id),
      "completed"));
  EXPECT_LT(Clock::now() - t0, 2s);
  const auto t1 = Clock::now();
  EXPECT_TRUE(worker.stop());  // interrupts the 30 s waits
  EXPECT_LT(Clock::now() - t1, 2s);
}

TEST_F(WorkerTest, CompleteInCommitsWithTheHandlersOwnWrites) {
  const auto id = jobs.create_job(job("own-unit")).id;
  auto o = fast(1);
  o.until_idle = true;
  db::Worker worker{database, o};
  worker.on("fp", [](db::JobContext& c) {
    c.database().transact([&](db::Session& unit) {
      unit.execute("CREATE TABLE result_of_job (id bigint)");
      unit.execute("INSERT INTO result_of_job VALUES ($1)", c.job().id);
      c.complete_in(unit);
    });
  });
  EXPECT_EQ(worker.run().completed, 1);
  EXPECT_EQ(side.count("SELECT id FROM result_of_job"), id);
  EXPECT_NE(row(id).find("completed"), std::string::npos) << row(id);
}

// complete_in inside a unit that then rolls back must not leave the job
// completed without the unit's writes: the attempt fails and runs again.
TEST_F(WorkerTest, AUnitThatRollsBackAfterCompleteInFailsTheAttempt) {
  const auto id = jobs.create_job(job("rolled-back")).id;
  side.exec("CREATE TABLE effect_of_job (id bigint)");
  auto o = fast(1);
  o.until_idle = true;
  db::Worker worker{database, o};
  worker.on("fp", [](db::JobContext& c) {
    c.database().transact([&](db::Session& unit) {
      unit.execute("INSERT INTO effect_of_job VALUES ($1)", c.job().id);
      c.complete_in(unit);
      if (c.job().attempts == 1) throw std::runtime_error("after complete_in");
    });
  });
  const auto stats = worker.run();
  EXPECT_EQ(stats.failed, 1);
  EXPECT_EQ(stats.completed, 1);
  EXPECT_EQ(side.count("SELECT count(*) FROM effect_of_job"), 1);
  EXPECT_EQ(side.count("SELECT attempts FROM processing_jobs WHERE id = " +
                       std::to_string(id) + " AND status = 'completed'"),
            2);
}

// A handler whose unit committed with complete_in and that throws afterwards
// leaves the job completed, once, and is counted as completed.
TEST_F(WorkerTest, AThrowAfterACommittedCompleteInKeepsTheJobCompleted) {
  const auto id = jobs.create_job(job("committed")).id;
  auto o = fast(1);
  o.until_idle = true;
  db::Worker worker{database, o};
  worker.on("fp", [](db::JobContext& c) {
    c.database().transact([&](db::Session& unit) { c.complete_in(unit); });
    throw std::runtime_error("after the unit committed");
  });
  const auto stats = worker.run();
  EXPECT_EQ(stats.completed, 1);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_EQ(side.count("SELECT attempts FROM processing_jobs WHERE id = " +
                       std::to_string(id) + " AND status = 'completed'"),
            1);
}

TEST_F(WorkerTest, BadOptionsAndLateHandlersAreRefused) {
  auto bad = fast(0);
  EXPECT_THROW(db::Worker(database, bad), db::InvalidArgument);
  bad = fast(1);
  bad.stale_after = 10ms;  // not above heartbeat_every
  EXPECT_THROW(db::Worker(database, bad), db::InvalidArgument);
  db::Worker none{database, fast(1)};
  EXPECT_THROW(none.start(), db::InvalidArgument);
  db::Worker worker{database, fast(1)};
  worker.on("fp", [](db::JobContext&) {});
  worker.start();
  EXPECT_THROW(worker.on("other", [](db::JobContext&) {}), db::InvalidArgument);
  EXPECT_TRUE(worker.stop());
}

}  // namespace
}  // namespace sh_test
