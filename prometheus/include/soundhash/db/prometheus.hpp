#pragma once
// Prometheus metrics for a Database: an optional component (target
// soundhash::db_prometheus, built on prometheus-cpp) so the core gains no
// dependency.
//
//   auto metrics = std::make_shared<db::PrometheusMetrics>();
//   db::Config cfg = db::Config::from_env();
//   cfg.observer = metrics;
//   db::Database database{cfg};
//   metrics->watch(database);  // pool and queue gauges
//   db::MetricsServer server{"0.0.0.0:9187", metrics};  // GET /metrics
//
// Every metric is listed, with what it means, in docs/guide/operations.md.
// Labels are bounded: operation names, SQLSTATEs of retried errors, SQLSTATE
// classes of other errors, job types; never SQL text or ids.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "soundhash/db/observer.hpp"
#include "soundhash/db/queue_observer.hpp"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace soundhash::db {

class Database;

/// Counts the library's events into Prometheus metrics; install it as
/// Config::observer, then serve it (MetricsServer, or any prometheus-cpp
/// Exposer: it is a Collectable). Thread-safe.
class PrometheusMetrics : public Observer,
                          public QueueObserver,
                          public prometheus::Collectable {
 public:
  PrometheusMetrics();
  ~PrometheusMetrics() override;
  PrometheusMetrics(const PrometheusMetrics&) = delete;
  PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

  /// Adds `database`'s pool gauges (read at each scrape) and its queue
  /// gauges per job type (pending, running, oldest runnable wait), read by
  /// one query at most once per `queue_refresh` however many scrapers ask.
  /// `database` must outlive this object's scrapes, and should be the one
  /// this object observes. Call once, before serving.
  void watch(Database& database,
             std::chrono::milliseconds queue_refresh = std::chrono::seconds(5));

  /// The metrics, with the watched gauges brought up to date.
  std::vector<prometheus::MetricFamily> Collect() const override;

  void on_statement(const StatementEvent& event) noexcept override;
  void on_retry(const RetryEvent& event) noexcept override;
  void on_unit(UnitOutcome outcome) noexcept override;
  void on_acquire(const AcquireEvent& event) noexcept override;
  void on_connection(ConnectionChange change) noexcept override;
  void on_job(const JobEvent& event) noexcept override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Serves `metrics` over HTTP at /metrics (prometheus-cpp's Exposer).
class MetricsServer {
 public:
  /// `bind_address` as "host:port"; port 0 picks a free one (see port()).
  MetricsServer(const std::string& bind_address,
                std::shared_ptr<PrometheusMetrics> metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  /// The port it listens on.
  [[nodiscard]] int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace soundhash::db
