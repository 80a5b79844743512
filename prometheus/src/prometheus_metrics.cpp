// PrometheusMetrics: the library's events as Prometheus metrics. The hot
// events (a call done, a unit ended, an acquire) touch only metrics looked
// up once: by operation name in a read-mostly map, or made at construction.
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "soundhash/db/database.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/prometheus.hpp"

namespace soundhash::db {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

const char* name_of(ConnectionChange c) {
  switch (c) {
    case ConnectionChange::opened:
      return "opened";
    case ConnectionChange::broken:
      return "broken";
    case ConnectionChange::discarded:
      return "discarded";
  }
  return "unknown";
}

const char* name_of(JobChange c) {
  switch (c) {
    case JobChange::claimed:
      return "claimed";
    case JobChange::completed:
      return "completed";
    case JobChange::failed:
      return "failed";
    case JobChange::rescued:
      return "rescued";
    case JobChange::cancelled:
      return "cancelled";
  }
  return "unknown";
}

// Pending and running jobs per type, and how long the oldest runnable one
// has waited: one statement, reading only live jobs.
constexpr std::string_view kQueueGauges = R"sql(
SELECT job_type,
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'running'),
       COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)
                FILTER (WHERE status = 'pending' AND run_at <= now())),
                0)::float8
  FROM processing_jobs
 WHERE status IN ('pending', 'running')
 GROUP BY job_type
)sql";

const Histogram::BucketBoundaries kStatementBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const Histogram::BucketBoundaries kAcquireBuckets = {
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
const Histogram::BucketBoundaries kClaimWaitBuckets = {
    0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace

struct PrometheusMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();

  Family<Counter>& operations =
      prometheus::BuildCounter()
          .Name("soundhash_db_operations_total")
          .Help(
              "Operation attempts (calls: repository methods, executes), "
              "by outcome")
          .Register(*registry);
  Family<Histogram>& operation_seconds =
      prometheus::BuildHistogram()
          .Name("soundhash_db_operation_duration_seconds")
          .Help("Time of one operation attempt, first statement to end")
          .Register(*registry);
  Family<Counter>& round_trips =
      prometheus::BuildCounter()
          .Name("soundhash_db_round_trips_total")
          .Help("Round trips to the server made by operations")
          .Register(*registry);
  Family<Counter>& rows = prometheus::BuildCounter()
                              .Name("soundhash_db_rows_total")
                              .Help("Rows returned or affected by operations")
                              .Register(*registry);
  Family<Counter>& errors =
      prometheus::BuildCounter()
          .Name("soundhash_db_operation_errors_total")
          .Help("Failed operation attempts by SQLSTATE class ('' if none)")
          .Register(*registry);
  Family<Counter>& retries =
      prometheus::BuildCounter()
          .Name("soundhash_db_retries_total")
          .Help("Transient failures retried, by operation and SQLSTATE")
          .Register(*registry);
  Family<Counter>& units =
      prometheus::BuildCounter()
          .Name("soundhash_db_units_total")
          .Help("Transactions that held work, by how they ended")
          .Register(*registry);
  Family<Histogram>& acquire_seconds =
      prometheus::BuildHistogram()
          .Name("soundhash_db_pool_acquire_duration_seconds")
          .Help("Time to take a connection from the pool (incl. opening one)")
          .Register(*registry);
  Family<Counter>& acquire_timeouts =
      prometheus::BuildCounter()
          .Name("soundhash_db_pool_acquire_timeouts_total")
          .Help("Callers that got PoolTimeout")
          .Register(*registry);
  Family<Counter>& connections =
      prometheus::BuildCounter()
          .Name("soundhash_db_connections_total")
          .Help("Connections opened, found broken, or discarded")
          .Register(*registry);
  Family<Gauge>& pool = prometheus::BuildGauge()
                            .Name("soundhash_db_pool_connections")
                            .Help("Pooled connections now, idle or in use")
                            .Register(*registry);
  Family<Gauge>& pool_max = prometheus::BuildGauge()
                                .Name("soundhash_db_pool_max_connections")
                                .Help("The pool's bound (Config::pool_size)")
                                .Register(*registry);
  Family<Counter>& jobs = prometheus::BuildCounter()
                              .Name("soundhash_db_jobs_total")
                              .Help("Queue job events, by job type and event")
                              .Register(*registry);
  Family<Histogram>& claim_wait =
      prometheus::BuildHistogram()
          .Name("soundhash_db_job_claim_wait_seconds")
          .Help("Time from a job's run_at to its claim")
          .Register(*registry);
  Family<Gauge>& queue_jobs = prometheus::BuildGauge()
                                  .Name("soundhash_db_queue_jobs")
                                  .Help("Live jobs by job type and status")
                                  .Register(*registry);
  Family<Gauge>& queue_oldest =
      prometheus::BuildGauge()
          .Name("soundhash_db_queue_oldest_runnable_wait_seconds")
          .Help("How long the oldest runnable pending job has waited")
          .Register(*registry);

  // Made once: hot events touch only these.
  Counter* unit[3] = {&units.Add({{"outcome", "committed"}}),
                      &units.Add({{"outcome", "rolled_back"}}),
                      &units.Add({{"outcome", "in_doubt"}})};
  Histogram& acquire = acquire_seconds.Add({}, kAcquireBuckets);
  Counter& timeouts = acquire_timeouts.Add({});

  // Per operation, looked up under a shared lock (added once under an
  // exclusive one).
  struct Op {
    Counter* ok;
    Counter* failed;
    Histogram* seconds;
    Counter* trips;
    Counter* rows;
  };
  std::shared_mutex ops_mutex;
  std::unordered_map<std::string, Op, Hash, std::equal_to<>> ops;

  Op& op(std::string_view name) {
    {
      std::shared_lock lock(ops_mutex);
      if (auto it = ops.find(name); it != ops.end()) return it->second;
    }
    std::unique_lock lock(ops_mutex);
    if (auto it = ops.find(name); it != ops.end()) return it->second;
    const std::string n(name);
    Op o{&operations.Add({{"operation", n}, {"outcome", "ok"}}),
         &operations.Add({{"operation", n}, {"outcome", "error"}}),
         &operation_seconds.Add({{"operation", n}}, kStatementBuckets),
         &round_trips.Add({{"operation", n}}), &rows.Add({{"operation", n}})};
    return ops.emplace(n, o).first->second;
  }

  // What watch() set up; refreshed by Collect().
  Database* database = nullptr;
  std::chrono::milliseconds queue_refresh{0};
  mutable std::mutex refresh_mutex;
  std::chrono::steady_clock::time_point queue_read{};
  bool queue_read_once = false;
  std::map<std::string, bool> job_types;  // seen in the queue

  void refresh() {
    std::lock_guard lock(refresh_mutex);
    if (!database) return;
    const PoolStats p = database->pool_stats();
    pool.Add({{"state", "idle"}}).Set(static_cast<double>(p.idle));
    pool.Add({{"state", "in_use"}}).Set(static_cast<double>(p.in_use));
    pool_max.Add({}).Set(static_cast<double>(p.max_size));
    const auto now = std::chrono::steady_clock::now();
    if (queue_read_once && now - queue_read < queue_refresh) return;
    queue_read = now;
    queue_read_once = true;
    try {
      auto s = database->session();
      const Result r =
          s.call("queue_metrics", [&] { return s.read(kQueueGauges); });
      for (auto& [type, seen] : job_types) seen = false;
      for (const auto& row : r) {
        const auto type = row[0].as<std::string>();
        job_types[type] = true;
        queue_jobs.Add({{"job_type", type}, {"status", "pending"}})
            .Set(static_cast<double>(row[1].as<std::int64_t>()));
        queue_jobs.Add({{"job_type", type}, {"status", "running"}})
            .Set(static_cast<double>(row[2].as<std::int64_t>()));
        queue_oldest.Add({{"job_type", type}}).Set(row[3].as<double>());
      }
      // A type with no live jobs left reads zero, not its last value.
      for (const auto& [type, seen] : job_types) {
        if (seen) continue;
        queue_jobs.Add({{"job_type", type}, {"status", "pending"}}).Set(0);
        queue_jobs.Add({{"job_type", type}, {"status", "running"}}).Set(0);
        queue_oldest.Add({{"job_type", type}}).Set(0);
      }
    } catch (const std::exception& e) {
      // No schema yet, or the server is away: the gauges keep their values.
      logger().debug("queue metrics not read: {}", e.what());
    }
  }
};

PrometheusMetrics::PrometheusMetrics() : impl_(std::make_unique<Impl>()) {}

PrometheusMetrics::~PrometheusMetrics() = default;

void PrometheusMetrics::watch(Database& database,
                              std::chrono::milliseconds queue_refresh) {
  std::lock_guard lock(impl_->refresh_mutex);
  impl_->database = &database;
  impl_->queue_refresh = queue_refresh;
}

std::vector<prometheus::MetricFamily> PrometheusMetrics::Collect() const {
  impl_->refresh();
  return impl_->registry->Collect();
}

void PrometheusMetrics::on_statement(const StatementEvent& e) noexcept {
  try {
    Impl::Op& o = impl_->op(e.operation);
    (e.ok ? o.ok : o.failed)->Increment();
    o.seconds->Observe(seconds(e.duration));
    o.trips->Increment(e.round_trips);
    if (e.rows > 0) o.rows->Increment(static_cast<double>(e.rows));
    if (!e.ok) {
      impl_->errors
          .Add({{"operation", std::string(e.operation)},
                {"sqlstate_class", std::string(e.sqlstate.substr(0, 2))}})
          .Increment();
    }
  } catch (...) {
    // A metric is not worth failing the caller for (only allocation throws).
  }
}

void PrometheusMetrics::on_retry(const RetryEvent& e) noexcept {
  try {
    impl_->retries
        .Add({{"operation", std::string(e.operation)},
              {"sqlstate", std::string(e.sqlstate)}})
        .Increment();
  } catch (...) {
  }
}

void PrometheusMetrics::on_unit(UnitOutcome outcome) noexcept {
  impl_->unit[static_cast<int>(outcome)]->Increment();
}

void PrometheusMetrics::on_acquire(const AcquireEvent& e) noexcept {
  impl_->acquire.Observe(seconds(e.wait));
  if (e.timed_out) impl_->timeouts.Increment();
}

void PrometheusMetrics::on_connection(ConnectionChange change) noexcept {
  try {
    impl_->connections.Add({{"event", name_of(change)}}).Increment();
  } catch (...) {
  }
}

void PrometheusMetrics::on_job(const JobEvent& e) noexcept {
  try {
    const std::string type(e.job_type);
    impl_->jobs.Add({{"job_type", type}, {"event", name_of(e.change)}})
        .Increment();
    if (e.change == JobChange::claimed) {
      impl_->claim_wait.Add({{"job_type", type}}, kClaimWaitBuckets)
          .Observe(seconds(e.wait));
    }
  } catch (...) {
  }
}

struct MetricsServer::Impl {
  Impl(const std::string& bind, std::shared_ptr<PrometheusMetrics> m)
      : exposer(bind), metrics(std::move(m)) {
    exposer.RegisterCollectable(metrics);
  }
  prometheus::Exposer exposer;
  std::shared_ptr<PrometheusMetrics> metrics;
};

MetricsServer::MetricsServer(const std::string& bind_address,
                             std::shared_ptr<PrometheusMetrics> metrics)
    : impl_(std::make_unique<Impl>(bind_address, std::move(metrics))) {}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const {
  const auto ports = impl_->exposer.GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace soundhash::db
