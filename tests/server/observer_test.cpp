// Config::observer: the events the core and the queue report arrive, with
// the right fields, against the real server (faults injected from a Side
// connection). The slow-statement log is here too: it times the same places.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "deadlock.hpp"
#include "repo_fixture.hpp"
#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// Copies of every event (the views in them live for the callback only).
struct Recorder : db::Observer, db::QueueObserver {
  struct Statement {
    std::string operation;
    int round_trips;
    std::int64_t rows;
    bool ok;
    std::string sqlstate;
  };
  struct Retry {
    std::string operation;
    long long attempt;
    std::string sqlstate;
    std::chrono::nanoseconds delay;
  };
  struct Job {
    db::JobChange change;
    std::string job_type;
    std::int64_t id;
    std::chrono::nanoseconds wait;
    bool retrying;
  };

  void on_statement(const db::StatementEvent& e) noexcept override {
    std::lock_guard lock(m);
    statements.push_back({std::string(e.operation), e.round_trips, e.rows, e.ok,
                          std::string(e.sqlstate)});
  }
  void on_retry(const db::RetryEvent& e) noexcept override {
    std::lock_guard lock(m);
    retries.push_back({std::string(e.operation), e.attempt,
                       std::string(e.sqlstate), e.delay});
  }
  void on_unit(db::UnitOutcome o) noexcept override {
    std::lock_guard lock(m);
    units.push_back(o);
  }
  void on_acquire(const db::AcquireEvent& e) noexcept override {
    std::lock_guard lock(m);
    acquires.push_back(e);
  }
  void on_connection(db::ConnectionChange c) noexcept override {
    std::lock_guard lock(m);
    connections.push_back(c);
  }
  void on_job(const db::JobEvent& e) noexcept override {
    std::lock_guard lock(m);
    jobs.push_back(
        {e.change, std::string(e.job_type), e.job_id, e.wait, e.retrying});
  }
  void clear() {
    std::lock_guard lock(m);
    statements.clear();
    retries.clear();
    units.clear();
    acquires.clear();
    connections.clear();
    jobs.clear();
  }

  std::mutex m;
  std::vector<Statement> statements;
  std::vector<Retry> retries;
  std::vector<db::UnitOutcome> units;
  std::vector<db::AcquireEvent> acquires;
  std::vector<db::ConnectionChange> connections;
  std::vector<Job> jobs;
};

db::Config observed(const std::shared_ptr<Recorder>& r) {
  db::Config c = sh_test::config();
  c.observer = r;
  return c;
}

class ObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
        "INSERT INTO accounts VALUES (1, 100), (2, 100)");
    sh_test::clear_sleeps();
    rec->clear();
  }
  void TearDown() override { EXPECT_EQ(database.pool_stats().in_use, 0u); }
  std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
  sh_test::Side side;
  db::Database database{observed(rec)};
};

}  // namespace

TEST_F(ObserverTest, StatementEventsNameTheOperationAndCountRowsAndTrips) {
  {
    auto s = database.session();
    s.execute("UPDATE accounts SET balance = balance + 1");
  }
  {
    auto s = database.session();
    EXPECT_THROW(s.execute("SELEC 1"), db::ProgrammingError);
  }
  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->statements.size(), 2u);
  const auto& update = rec->statements[0];
  EXPECT_EQ(update.operation, "execute");
  EXPECT_TRUE(update.ok);
  EXPECT_EQ(update.rows, 2);
  EXPECT_EQ(update.round_trips, 1);  // BEGIN rides with the statement
  EXPECT_EQ(update.sqlstate, "");
  const auto& bad = rec->statements[1];
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.sqlstate, "42601");
  EXPECT_EQ(bad.rows, 0);
  // The first unit committed at scope exit, the second was rolled back.
  ASSERT_EQ(rec->units.size(), 2u);
  EXPECT_EQ(rec->units[0], db::UnitOutcome::committed);
  EXPECT_EQ(rec->units[1], db::UnitOutcome::rolled_back);
}

TEST_F(ObserverTest, ARepositoryCallIsReportedUnderItsMethodName) {
  side.exec("DROP TABLE accounts");
  db::migrate(database);
  rec->clear();
  {
    auto s = database.autocommit_session();
    db::VideoRepository videos{s};
    videos.create_channel("UC-observed", "Observed");
  }
  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->statements.size(), 1u);
  EXPECT_EQ(rec->statements[0].operation, "create_channel");
  EXPECT_EQ(rec->statements[0].rows, 1);
  // BEGIN and the INSERT, then the COMMIT (create_channel is not one
  // execute_final, so its COMMIT goes alone).
  EXPECT_EQ(rec->statements[0].round_trips, 2);
  ASSERT_EQ(rec->units.size(), 1u);
  EXPECT_EQ(rec->units[0], db::UnitOutcome::committed);
}

// A deadlock made from a side connection: the library's unit is the victim
// (the side waits longer before it looks for deadlocks), its failure and the
// retry carry SQLSTATE 40P01, and the re-run commits.
TEST_F(ObserverTest, ADeadlockRetryCarriesItsSqlstate) {
  const int n = sh_test::deadlock_retried_unit(database, side);
  // Usually one deadlock. Rarely the re-run takes row 1 again before the
  // side's woken UPDATE does and is the victim once more: every attempt but
  // the last is then a 40P01 retry, reported as such.
  ASSERT_GE(n, 2);
  EXPECT_EQ(side.count("SELECT balance FROM accounts WHERE id = 1"), 1);

  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->retries.size(), static_cast<std::size_t>(n - 1));
  ASSERT_EQ(sh_test::sleeps().size(), rec->retries.size());
  for (std::size_t i = 0; i < rec->retries.size(); ++i) {
    EXPECT_EQ(rec->retries[i].operation, "transact");
    EXPECT_EQ(rec->retries[i].attempt, static_cast<int>(i) + 1);
    EXPECT_EQ(rec->retries[i].sqlstate, "40P01");
    EXPECT_EQ(rec->retries[i].delay, sh_test::sleeps()[i]);
  }
  int deadlocked = 0;
  for (const auto& st : rec->statements) {
    if (!st.ok && st.sqlstate == "40P01") ++deadlocked;
  }
  EXPECT_EQ(deadlocked, n - 1);
  ASSERT_EQ(rec->units.size(), static_cast<std::size_t>(n));
  for (int i = 0; i + 1 < n; ++i) {
    EXPECT_EQ(rec->units[i], db::UnitOutcome::rolled_back);
  }
  EXPECT_EQ(rec->units.back(), db::UnitOutcome::committed);
}

TEST_F(ObserverTest, PoolAcquiresAndConnectionLives) {
  db::Config c = observed(rec);
  c.pool_size = 1;
  c.acquire_timeout = 50ms;
  db::Database small{c};
  rec->clear();
  int pid = 0;
  {
    auto holder = small.session();
    pid = holder.backend_pid();
    auto other = small.session();
    EXPECT_THROW(other.execute("SELECT 1"), db::PoolTimeout);
  }
  {
    std::lock_guard lock(rec->m);
    ASSERT_EQ(rec->acquires.size(), 2u);
    EXPECT_FALSE(rec->acquires[0].timed_out);
    EXPECT_TRUE(rec->acquires[1].timed_out);
    EXPECT_GE(rec->acquires[1].wait, 50ms);
    ASSERT_EQ(rec->connections.size(), 1u);
    EXPECT_EQ(rec->connections[0], db::ConnectionChange::opened);
  }
  side.terminate(pid);
  {
    auto s = small.session();
    s.execute("SELECT 1");  // finds its connection dead, opens another
  }
  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->connections.size(), 3u);
  EXPECT_EQ(rec->connections[1], db::ConnectionChange::broken);
  EXPECT_EQ(rec->connections[2], db::ConnectionChange::opened);
}

TEST_F(ObserverTest, QueueEventsByJobType) {
  side.exec("DROP TABLE accounts");
  db::migrate(database);
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  db::NewJob a;
  a.job_type = "fingerprint";
  a.target_id = "v1";
  db::NewJob b = a;
  b.job_type = "download";
  b.target_id = "v2";
  b.max_retries = 1;
  const auto ja = jobs.create_job(a).id;
  const auto jb = jobs.create_job(b).id;
  rec->clear();

  auto claimed = jobs.claim_next_job({"fingerprint"}, "w1");
  ASSERT_TRUE(claimed);
  jobs.complete_job(ja, "w1");
  ASSERT_TRUE(jobs.claim_next_job({"download"}, "w1"));
  jobs.fail_job(jb, "w1", "network down");  // back to pending: 1 retry left
  side.exec("UPDATE processing_jobs SET run_at = now() WHERE id = " +
            std::to_string(jb));
  ASSERT_TRUE(jobs.claim_next_job({"download"}, "w2"));
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval '1 hour' "
      "WHERE id = " +
      std::to_string(jb));
  ASSERT_EQ(jobs.rescue_stale_jobs(1min).size(), 1u);

  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->jobs.size(), 6u);
  EXPECT_EQ(rec->jobs[0].change, db::JobChange::claimed);
  EXPECT_EQ(rec->jobs[0].job_type, "fingerprint");
  EXPECT_EQ(rec->jobs[0].id, ja);
  EXPECT_GE(rec->jobs[0].wait.count(), 0);
  EXPECT_EQ(rec->jobs[1].change, db::JobChange::completed);
  EXPECT_EQ(rec->jobs[1].job_type, "fingerprint");
  EXPECT_EQ(rec->jobs[2].change, db::JobChange::claimed);
  EXPECT_EQ(rec->jobs[2].job_type, "download");
  EXPECT_EQ(rec->jobs[3].change, db::JobChange::failed);
  EXPECT_EQ(rec->jobs[3].job_type, "download");
  EXPECT_TRUE(rec->jobs[3].retrying);
  EXPECT_EQ(rec->jobs[4].change, db::JobChange::claimed);
  // The rescue: its retries are spent, so it ends failed.
  EXPECT_EQ(rec->jobs[5].change, db::JobChange::rescued);
  EXPECT_EQ(rec->jobs[5].job_type, "download");
  EXPECT_EQ(rec->jobs[5].id, jb);
  EXPECT_FALSE(rec->jobs[5].retrying);
}

TEST_F(ObserverTest, CompleteAndClaimNextReportsBoth) {
  side.exec("DROP TABLE accounts");
  db::migrate(database);
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  db::NewJob a;
  a.job_type = "fingerprint";
  a.target_id = "v1";
  const auto first = jobs.create_job(a).id;
  a.target_id = "v2";
  const auto second = jobs.create_job(a).id;
  ASSERT_TRUE(jobs.claim_next_job({"fingerprint"}, "w"));
  rec->clear();
  auto next = jobs.complete_job_and_claim_next(first, "w", {"fingerprint"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, second);
  std::lock_guard lock(rec->m);
  ASSERT_EQ(rec->jobs.size(), 2u);
  EXPECT_EQ(rec->jobs[0].change, db::JobChange::completed);
  EXPECT_EQ(rec->jobs[0].id, first);
  EXPECT_EQ(rec->jobs[0].job_type, "fingerprint");
  EXPECT_EQ(rec->jobs[1].change, db::JobChange::claimed);
  EXPECT_EQ(rec->jobs[1].id, second);
}

// The batch form reports what it completed, by type, like complete_job: not
// the job it no longer owned, and nothing when repeated (already completed).
TEST_F(ObserverTest, CompleteJobsReportsEachCompletedJob) {
  side.exec("DROP TABLE accounts");
  db::migrate(database);
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  db::NewJob fp;
  fp.job_type = "fingerprint";
  fp.target_id = "v1";
  db::NewJob dl = fp;
  dl.job_type = "download";
  const auto a = jobs.create_job(fp).id;
  const auto b = jobs.create_job(dl).id;
  fp.target_id = "v2";
  const auto other = jobs.create_job(fp).id;
  ASSERT_TRUE(jobs.claim_next_job({"fingerprint"}, "w"));
  ASSERT_TRUE(jobs.claim_next_job({"download"}, "w"));
  ASSERT_TRUE(jobs.claim_next_job({"fingerprint"}, "someone-else"));
  rec->clear();

  const auto lost = jobs.complete_jobs({a, b, other}, "w");
  EXPECT_EQ(lost, std::vector<std::int64_t>{other});
  {
    std::lock_guard lock(rec->m);
    ASSERT_EQ(rec->jobs.size(), 2u);
    std::map<std::int64_t, std::string> completed;
    for (const auto& e : rec->jobs) {
      EXPECT_EQ(e.change, db::JobChange::completed);
      completed[e.id] = e.job_type;
    }
    EXPECT_EQ(completed, (std::map<std::int64_t, std::string>{
                             {a, "fingerprint"}, {b, "download"}}));
  }
  rec->clear();
  EXPECT_TRUE(jobs.complete_jobs({a, b}, "w").empty());
  std::lock_guard lock(rec->m);
  EXPECT_TRUE(rec->jobs.empty());
}

// Slow statements: logged at WARN with the call's name, the SQL text and
// never a parameter's value; at most N lines a second.
TEST(SlowStatements, LoggedWithSqlButNotParametersAndRateLimited) {
  sh_test::LogCapture log;
  db::Config c = sh_test::config();
  c.slow_statement_threshold = 20ms;
  db::Database database{c};
  {
    auto s = database.session();
    s.execute("SELECT pg_sleep(0.05), $1::text", "secret-value");
    s.execute("SELECT 1");  // fast: not logged
  }
  int slow = 0;
  for (const auto& line : log.lines()) {
    if (line.find("Slow statement") == std::string::npos) continue;
    ++slow;
    EXPECT_EQ(line.rfind("warning|", 0), 0u) << line;
    EXPECT_NE(line.find("in execute"), std::string::npos) << line;
    EXPECT_NE(line.find("SELECT pg_sleep(0.05), $1::text"), std::string::npos)
        << line;
    EXPECT_EQ(line.find("secret-value"), std::string::npos) << line;
  }
  EXPECT_EQ(slow, 1);

  sh_test::LogCapture limited;
  c.slow_statement_threshold = 1ms;
  c.slow_statement_logs_per_second = 2;
  db::Database limited_db{c};
  {
    auto s = limited_db.session();
    for (int i = 0; i < 10; ++i) s.execute("SELECT pg_sleep(0.003)");
  }
  int lines = 0;
  for (const auto& line : limited.lines()) {
    if (line.find("Slow statement") != std::string::npos) ++lines;
  }
  // Two a second; the ten take ~40 ms, so at most one second boundary.
  EXPECT_GE(lines, 2);
  EXPECT_LE(lines, 4);
}

TEST(SlowStatements, ThresholdFromTheEnvironment) {
  setenv("SOUNDHASH_DB_SLOW_STATEMENT_MS", "250", 1);
  setenv("SOUNDHASH_DB_SLOW_STATEMENT_LOGS_PER_SECOND", "3", 1);
  const auto c = db::Config::from_env();
  unsetenv("SOUNDHASH_DB_SLOW_STATEMENT_MS");
  unsetenv("SOUNDHASH_DB_SLOW_STATEMENT_LOGS_PER_SECOND");
  EXPECT_EQ(c.slow_statement_threshold, 250ms);
  EXPECT_EQ(c.slow_statement_logs_per_second, 3);
  db::Config bad;
  bad.slow_statement_logs_per_second = 0;
  EXPECT_THROW(bad.validate(), db::InvalidArgument);
}
