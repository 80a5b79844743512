// The Prometheus exporter for real: a workload against the real server with
// PrometheusMetrics installed, /metrics scraped over HTTP with curl, the
// counters checked to move with the workload, a deadlock retry (made from a
// side connection) under its SQLSTATE label, and the exposition checked by
// `promtool check metrics`.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "deadlock.hpp"
#include "soundhash/db/prometheus.hpp"
#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

std::string run(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (status) *status = rc;
  return out;
}

std::string scrape(int port) {
  int status = -1;
  std::string body =
      run(std::string(SOUNDHASH_CURL) +
              " -sf http://127.0.0.1:" + std::to_string(port) + "/metrics",
          &status);
  EXPECT_EQ(status, 0) << "curl failed";
  return body;
}

// The value of one series, e.g. `x_total{a="b"}`; -1 if absent.
double value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

class Exporter : public ::testing::Test {
 protected:
  Exporter() {
    db::Config c = sh_test::config();
    c.observer = metrics;
    database = std::make_unique<db::Database>(c);
    metrics->watch(*database, 1h);  // the queue query: once in this test
  }
  void SetUp() override {
    db::migrate(*database);
    sh_test::clear_sleeps();
  }
  std::shared_ptr<db::PrometheusMetrics> metrics =
      std::make_shared<db::PrometheusMetrics>();
  std::unique_ptr<db::Database> database;
  sh_test::Side side;
};

}  // namespace

TEST_F(Exporter, CountersMoveWithTheWorkloadAndTheExpositionParses) {
  db::MetricsServer server("127.0.0.1:0", metrics);
  ASSERT_GT(server.port(), 0);
  {
    auto s = database->autocommit_session();
    db::JobRepository jobs{s};
    for (int i = 0; i < 3; ++i) {
      db::NewJob j;
      j.job_type = "fingerprint";
      j.target_id = "v" + std::to_string(i);
      jobs.create_job(j);
    }
    auto job = jobs.claim_next_job({"fingerprint"}, "w1");
    ASSERT_TRUE(job);
    jobs.complete_job(job->id, "w1");
  }
  const std::string first = scrape(server.port());
  EXPECT_EQ(
      value(
          first,
          R"(soundhash_db_operations_total{operation="create_job",outcome="ok"})"),
      3);
  EXPECT_EQ(
      value(
          first,
          R"(soundhash_db_jobs_total{event="claimed",job_type="fingerprint"})"),
      1);
  EXPECT_EQ(
      value(
          first,
          R"(soundhash_db_jobs_total{event="completed",job_type="fingerprint"})"),
      1);
  EXPECT_EQ(
      value(
          first,
          R"(soundhash_db_queue_jobs{job_type="fingerprint",status="pending"})"),
      2);
  EXPECT_EQ(
      value(
          first,
          R"(soundhash_db_queue_jobs{job_type="fingerprint",status="running"})"),
      0);
  EXPECT_GE(
      value(
          first,
          R"(soundhash_db_queue_oldest_runnable_wait_seconds{job_type="fingerprint"})"),
      0);
  EXPECT_GE(value(first, R"(soundhash_db_units_total{outcome="committed"})"),
            5);
  EXPECT_EQ(value(first, R"(soundhash_db_pool_max_connections)"),
            static_cast<double>(database->config().pool_size));
  EXPECT_EQ(value(first, R"(soundhash_db_pool_connections{state="in_use"})"),
            0);
  EXPECT_GE(value(first, R"(soundhash_db_connections_total{event="opened"})"),
            1);
  EXPECT_GE(value(first, R"(soundhash_db_pool_acquire_duration_seconds_count)"),
            5);

  // More work: the counters move; the queue gauges, read at most once an
  // hour here, do not (one query served both scrapes).
  {
    auto s = database->autocommit_session();
    db::JobRepository jobs{s};
    auto job = jobs.claim_next_job({"fingerprint"}, "w2");
    ASSERT_TRUE(job);
    jobs.fail_job(job->id, "w2", "boom");
  }
  const std::string second = scrape(server.port());
  EXPECT_EQ(
      value(
          second,
          R"(soundhash_db_jobs_total{event="claimed",job_type="fingerprint"})"),
      2);
  EXPECT_EQ(
      value(
          second,
          R"(soundhash_db_jobs_total{event="failed",job_type="fingerprint"})"),
      1);
  EXPECT_EQ(
      value(
          second,
          R"(soundhash_db_queue_jobs{job_type="fingerprint",status="pending"})"),
      2);
  EXPECT_EQ(
      value(
          second,
          R"(soundhash_db_operations_total{operation="queue_metrics",outcome="ok"})"),
      1);

  // A deadlock from a side connection: the library's unit is the victim and
  // its retry is counted under SQLSTATE 40P01.
  side.exec(
      "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
      "INSERT INTO accounts VALUES (1, 100), (2, 100)");
  ASSERT_GE(sh_test::deadlock_retried_unit(*database, side), 2);
  const std::string third = scrape(server.port());
  // At least one: under load a re-run can take row 1 before the side's
  // woken UPDATE does and deadlock again; every one is counted under 40P01.
  const double retries = value(
      third,
      R"(soundhash_db_retries_total{operation="transact",sqlstate="40P01"})");
  EXPECT_GE(retries, 1);
  EXPECT_EQ(
      value(
          third,
          R"(soundhash_db_operation_errors_total{operation="execute",sqlstate_class="40"})"),
      retries);
  EXPECT_GE(value(third, R"(soundhash_db_units_total{outcome="rolled_back"})"),
            1);

  // The exposition parses, and passes promtool's lint.
  const std::string path = ::testing::TempDir() + "soundhash_metrics.txt";
  std::ofstream(path) << third;
  int status = -1;
  const std::string verdict = run(
      std::string(SOUNDHASH_PROMTOOL) + " check metrics < " + path + " 2>&1",
      &status);
  EXPECT_EQ(status, 0) << verdict;
}
