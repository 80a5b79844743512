// Periodic jobs against the real server: stored schedules, the job of each
// due period created exactly once across processes, missed periods run once.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class Schedules : public sh_test::QueueTest {
 protected:
  // Moves the schedule's next firing into the past, as if periods passed.
  void make_due(const std::string& name, const std::string& ago = "0") {
    side.exec(
        "UPDATE job_schedules SET next_run_at = date_trunc('minute', "
        "now()) - interval '" +
        ago + " minutes' - interval '1 minute' WHERE name = '" + name + "'");
  }
};

TEST_F(Schedules, UpsertListDelete) {
  const auto made = jobs.upsert_schedule("nightly", "  30 2 * * * ",
                                         job_of("crawl", "all-channels", 5));
  EXPECT_EQ(made.name, "nightly");
  EXPECT_EQ(made.expression, "30 2 * * *");
  EXPECT_EQ(made.job.job_type, "crawl");
  EXPECT_EQ(made.job.priority, 5);
  EXPECT_FALSE(made.last_enqueued_at);
  EXPECT_EQ(side.value("SELECT to_char(next_run_at AT TIME ZONE 'UTC', "
                       "'HH24:MI:SS') FROM job_schedules"),
            "02:30:00");
  EXPECT_EQ(side.count("SELECT count(*) FROM job_schedules WHERE next_run_at "
                       "> now() AND next_run_at <= now() + interval '1 day'"),
            1);

  // Same expression: the job changes, the rhythm stays.
  auto again = jobs.upsert_schedule("nightly", "30 2 * * *",
                                    job_of("crawl", "some-channels"));
  EXPECT_EQ(again.next_run_at, made.next_run_at);
  EXPECT_EQ(again.job.target_id, "some-channels");
  EXPECT_EQ(again.created_at, made.created_at);
  // A new expression starts from now.
  again = jobs.upsert_schedule("nightly", "@every 10s", job("x"));
  EXPECT_LE(again.next_run_at - std::chrono::system_clock::now(), 11s);

  jobs.upsert_schedule("hourly", "@hourly", job("y"));
  const auto all = jobs.list_schedules();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "hourly");
  EXPECT_EQ(all[1].name, "nightly");
  EXPECT_EQ(all[1].expression, "@every 10s");

  EXPECT_TRUE(jobs.delete_schedule("hourly"));
  EXPECT_FALSE(jobs.delete_schedule("hourly"));
  EXPECT_EQ(jobs.list_schedules().size(), 1u);
}

TEST_F(Schedules, BadInputIsRefusedAndChangesNothing) {
  jobs.upsert_schedule("keep", "@daily", job("a"));
  const auto before = side.value("SELECT s::text FROM job_schedules s");
  EXPECT_THROW(jobs.upsert_schedule("keep", "61 * * * *", job("a")),
               db::InvalidSchedule);
  EXPECT_THROW(jobs.upsert_schedule("keep", "0 0 31 2 *", job("a")),
               db::InvalidSchedule);
  EXPECT_THROW(jobs.upsert_schedule("", "@daily", job("a")),
               db::InvalidArgument);
  EXPECT_THROW(jobs.upsert_schedule(std::string(201, 'n'), "@daily", job("a")),
               db::InvalidArgument);
  auto bad = job("a");
  bad.max_retries = -1;
  EXPECT_THROW(jobs.upsert_schedule("keep", "@daily", bad),
               db::InvalidArgument);
  auto timed = job("a");
  timed.timeout = 0ms;
  EXPECT_THROW(jobs.upsert_schedule("keep", "@daily", timed),
               db::InvalidArgument);
  EXPECT_THROW(side.exec("UPDATE job_schedules SET timeout_ms = 0"),
               std::runtime_error);
  EXPECT_THROW(jobs.delete_schedule(""), db::InvalidArgument);
  EXPECT_THROW(jobs.enqueue_due_schedules(0), db::InvalidArgument);
  EXPECT_EQ(side.value("SELECT s::text FROM job_schedules s"), before);
  // The server checks the expression's shape and cron's whole minutes too.
  EXPECT_THROW(side.exec("UPDATE job_schedules SET expression = 'every day'"),
               std::runtime_error);
  EXPECT_THROW(side.exec("UPDATE job_schedules SET next_run_at = "
                         "next_run_at + interval '1 second'"),
               std::runtime_error);
}

// A schedule keeps its job's timeout (schema 14), and every job it creates
// has it; replacing the schedule without one clears it.
TEST_F(Schedules, AScheduledJobKeepsItsTimeout) {
  auto j = job_of("decode", "ch1");
  j.timeout = 90s;
  const auto saved = jobs.upsert_schedule("t", "@every 1m", j);
  EXPECT_EQ(saved.job.timeout, std::chrono::milliseconds{90000});
  ASSERT_EQ(jobs.list_schedules().size(), 1u);
  EXPECT_EQ(jobs.list_schedules()[0].job.timeout,
            std::chrono::milliseconds{90000});
  make_due("t");
  const auto made = jobs.enqueue_due_schedules();
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(made[0].timeout_ms, 90000);
  EXPECT_EQ(side.value("SELECT timeout_ms FROM processing_jobs WHERE id = " +
                       std::to_string(made[0].id)),
            "90000");
  j.timeout.reset();
  EXPECT_FALSE(jobs.upsert_schedule("t", "@every 1m", j).job.timeout);
  make_due("t", "1");
  const auto plain = jobs.enqueue_due_schedules();
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].timeout_ms);
}

TEST_F(Schedules, DuePeriodCreatesOneJob) {
  auto j = job_of("crawl", "ch1", 3);
  j.parameters = R"({"depth": 2})";
  j.delay = 1500ms;
  jobs.upsert_schedule("c", "0 3 * * *", j);
  EXPECT_TRUE(jobs.enqueue_due_schedules().empty()) << "not due yet";
  make_due("c");
  const auto period = side.value(
      "SELECT next_run_at + interval '1.5 seconds' FROM "
      "job_schedules");
  const auto made = jobs.enqueue_due_schedules();
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(made[0].job_type, "crawl");
  EXPECT_EQ(made[0].target_id, "ch1");
  EXPECT_EQ(made[0].priority, 3);
  EXPECT_EQ(made[0].parameters, j.parameters);
  EXPECT_EQ(made[0].status, "pending");
  EXPECT_EQ(side.value("SELECT run_at FROM processing_jobs"), period)
      << "run_at is the period's time plus the delay";
  EXPECT_TRUE(jobs.enqueue_due_schedules().empty()) << "once per period";
  EXPECT_EQ(side.count("SELECT count(*) FROM job_schedules WHERE next_run_at "
                       "> now() AND last_enqueued_at IS NOT NULL"),
            1);
}

TEST_F(Schedules, MissedPeriodsRunOnce) {
  // Periods far longer than the test, so that no new one starts meanwhile.
  jobs.upsert_schedule("m", "@yearly", job("a"));
  jobs.upsert_schedule("n", "@every 300d", job("b"));
  // Ten years of periods missed: one job each.
  side.exec(
      "UPDATE job_schedules SET next_run_at = next_run_at - interval "
      "'10 years'");
  EXPECT_EQ(jobs.enqueue_due_schedules().size(), 2u);
  EXPECT_EQ(jobs.enqueue_due_schedules().size(), 0u);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2);
}

TEST_F(Schedules, MaxSchedulesBoundsOneCall) {
  for (int i = 0; i < 3; ++i) {
    jobs.upsert_schedule("s" + std::to_string(i), "@daily", job("a"));
  }
  side.exec(
      "UPDATE job_schedules SET next_run_at = next_run_at - interval "
      "'2 days'");
  EXPECT_EQ(jobs.enqueue_due_schedules(2).size(), 2u);
  EXPECT_EQ(jobs.enqueue_due_schedules(2).size(), 1u);
}

TEST_F(Schedules, WorksInsideATransaction) {
  jobs.upsert_schedule("t", "* * * * *", job("a"));
  make_due("t");
  {
    auto tx = database.session();
    db::JobRepository r{tx};
    EXPECT_EQ(r.enqueue_due_schedules().size(), 1u);
    tx.rollback();
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 0);
  EXPECT_EQ(jobs.enqueue_due_schedules().size(), 1u) << "rolled back: due";
}

TEST_F(Schedules, WorkerCreatesScheduledJobs) {
  jobs.upsert_schedule("w", "@every 1s", job_of("tick", "t"));
  db::WorkerOptions o;
  o.schedules_every = 50ms;
  o.poll = 50ms;
  db::Worker worker{database, o};
  std::atomic<int> ran{0};
  worker.on("tick", [&](db::JobContext&) { ++ran; });
  worker.start();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (ran < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  worker.stop();
  EXPECT_GE(ran.load(), 2);
  EXPECT_GE(worker.stats().scheduled, 2);
}

// The proof of the issue: 4 processes call enqueue_due_schedules in a loop
// with an "@every 1s" schedule, pause together, and resume. Each period gets
// exactly one job (run_at says which), none is missing while they run, and
// the periods of the pause get one job between them.
TEST_F(Schedules, FourProcessesCreateEachPeriodsJobOnce) {
  constexpr int kProcs = 4;
  jobs.upsert_schedule("tick", "@every 1s", job("tick"));
  const std::string conninfo = sh_test::conninfo();
  const auto start = std::chrono::system_clock::now() + 500ms;
  // Phases from `start`: run 3 s, pause 2.5 s, run 2 s.
  const auto pause_from = start + 3s, pause_to = start + 5500ms,
             end = start + 7500ms;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      try {
        auto cfg = sh_test::config(true);
        cfg.conninfo = conninfo;
        db::Database d{cfg};
        auto mine = d.autocommit_session();
        db::JobRepository r{mine};
        std::this_thread::sleep_until(start);
        while (true) {
          const auto now = std::chrono::system_clock::now();
          if (now >= end) break;
          if (now >= pause_from && now < pause_to) {
            std::this_thread::sleep_until(pause_to);
            continue;
          }
          r.enqueue_due_schedules();
          std::this_thread::sleep_for(10ms);
        }
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        _exit(100);
      }
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child exit status " << status;
  }
  // Each job's period (run_at, whole seconds) and how late it was created.
  std::vector<std::pair<long long, double>> made;
  {
    auto r = s->read(
        "SELECT extract(epoch FROM run_at)::bigint, "
        "extract(epoch FROM created_at - run_at)::float8, "
        "run_at = date_trunc('second', run_at) "
        "FROM processing_jobs ORDER BY run_at");
    for (const auto& row : r) {
      EXPECT_TRUE(row[2].as<bool>()) << "a period starts on a whole second";
      made.emplace_back(row[0].as<std::int64_t>(), row[1].as<double>());
    }
  }
  ASSERT_GE(made.size(), 4u);
  int gaps = 0, late = 0;
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (made[i].second > 1.0) ++late;
    if (i == 0) continue;
    const auto step = made[i].first - made[i - 1].first;
    EXPECT_GE(step, 1) << "two jobs for one period";
    if (step > 1) {
      ++gaps;
      EXPECT_GT(made[i - 1].second, 1.0)
          << "the job before the pause's gap stands for the missed periods";
    }
  }
  EXPECT_EQ(gaps, 1) << "no period missing except those of the pause";
  EXPECT_EQ(late, 1) << "one job for the missed periods";
  // About 3 s, then about 2 s of periods.
  EXPECT_GE(made.size(), 5u);
  EXPECT_LE(made.size(), 9u);
}

}  // namespace
