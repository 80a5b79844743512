// A queue worker as a service would run it, on db::Worker: the runtime
// claims, heartbeats, completes or fails jobs, sleeps on LISTEN when idle and
// rescues jobs of workers that died. What is left here is the job's work and
// the command line. SIGINT/SIGTERM finish the jobs in hand (or release them
// after --stop-seconds), then exit 0.
//
//   worker [--types a,b] [--threads N] [--poll-seconds S] [--stale-seconds S]
//          [--stop-seconds S] [--work-ms MS] [--until-idle] [--fail-every K]
//
// Reads DATABASE_URL. --until-idle exits once no job of the types is pending
// or running; --fail-every K makes the first attempt of every job whose id
// is a multiple of K throw, so failures and their backoff are exercised;
// --work-ms is how long a job's work takes (three steps).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <soundhash/db.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#ifdef SOUNDHASH_EXAMPLE_PROMETHEUS
#include <soundhash/db/prometheus.hpp>
#endif

namespace db = soundhash::db;
using ms = std::chrono::milliseconds;

namespace {

struct Options {
  std::vector<std::string> types{"video_process"};
  db::WorkerOptions worker{.threads = 2,
                           .stale_after = ms(30000),
                           .backoff = {.initial = ms(50), .max = ms(1000)}};
  int work_ms = 6;
  int fail_every = 0;
  int metrics_port = -1;  // -1: no /metrics
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 == argc) throw std::invalid_argument(a + " needs a value");
      return std::string(argv[++i]);
    };
    auto seconds = [&] { return ms(std::llround(std::stod(value()) * 1000)); };
    if (a == "--types") {
      o.types.clear();
      std::istringstream list(value());
      for (std::string t; std::getline(list, t, ',');) {
        if (!t.empty()) o.types.push_back(t);
      }
    } else if (a == "--threads") {
      o.worker.threads = std::stoi(value());
    } else if (a == "--poll-seconds") {
      o.worker.poll = std::max(seconds(), ms(1));
    } else if (a == "--stale-seconds") {
      o.worker.stale_after = seconds();
    } else if (a == "--stop-seconds") {
      o.worker.stop_deadline = seconds();
    } else if (a == "--work-ms") {
      o.work_ms = std::stoi(value());
    } else if (a == "--until-idle") {
      o.worker.until_idle = true;
    } else if (a == "--fail-every") {
      o.fail_every = std::stoi(value());
#ifdef SOUNDHASH_EXAMPLE_PROMETHEUS
    } else if (a == "--metrics-port") {
      o.metrics_port = std::stoi(value());
#endif
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.types.empty() || o.worker.stale_after.count() <= 0 ||
      o.fail_every < 0 || o.work_ms < 0) {
    throw std::invalid_argument("option value out of range");
  }
  // Heartbeat well inside the staleness threshold, and rescue as often.
  o.worker.heartbeat_every = std::max(o.worker.stale_after / 4, ms(1));
  o.worker.rescue_every =
      std::clamp(o.worker.stale_after / 2, ms(100), ms(5000));
  return o;
}

// The signal handler may only touch lock-free atomics and request_stop().
std::atomic<db::Worker*> running_worker{nullptr};
std::atomic<bool> signalled{false};
extern "C" void on_signal(int) {
  signalled = true;
  if (auto* w = running_worker.load()) w->request_stop();
}

// The "work": three steps, each recording progress (sent with the next
// heartbeat). Throwing means the attempt failed; a job taken away (rescued,
// cancelled) or a stop past its deadline ends the work early.
void process(db::JobContext& job, const Options& o) {
  const bool fail = o.fail_every > 0 && job.job().id % o.fail_every == 0 &&
                    job.job().attempts == 1;
  for (int step = 1; step <= 3; ++step) {
    const auto until = std::chrono::steady_clock::now() + ms(o.work_ms) / 3;
    while (std::chrono::steady_clock::now() < until) {
      if (job.cancelled()) throw std::runtime_error("given up");
      std::this_thread::sleep_for(ms(1));
    }
    if (fail && step == 2) throw std::runtime_error("simulated failure");
    job.progress(step * 30.0, "step " + std::to_string(step));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {  // also std::stoi's
    std::fprintf(stderr,
                 "worker: %s\nusage: worker [--types a,b] [--threads N] "
                 "[--poll-seconds S] [--stale-seconds S] [--stop-seconds S] "
                 "[--work-ms MS] [--until-idle] [--fail-every K]%s\n",
                 e.what(),
#ifdef SOUNDHASH_EXAMPLE_PROMETHEUS
                 " [--metrics-port P]"
#else
                 ""
#endif
    );
    return 2;
  }
  db::WorkerStats stats;
  try {
#ifdef SOUNDHASH_EXAMPLE_PROMETHEUS
    // /metrics: the exporter observes the global Database (configured before
    // its first use); port 0 picks a free port.
    std::shared_ptr<db::PrometheusMetrics> metrics;
    std::unique_ptr<db::MetricsServer> server;
    if (o.metrics_port >= 0) {
      metrics = std::make_shared<db::PrometheusMetrics>();
      auto cfg = db::Config::from_env();
      cfg.observer = metrics;
      db::Database::configure_global(cfg);
    }
#endif
    auto& database = db::Database::global();
#ifdef SOUNDHASH_EXAMPLE_PROMETHEUS
    if (metrics) {
      metrics->watch(database);
      server = std::make_unique<db::MetricsServer>(
          "0.0.0.0:" + std::to_string(o.metrics_port), metrics);
      std::printf("worker: metrics on http://127.0.0.1:%d/metrics\n",
                  server->port());
      std::fflush(stdout);
    }
#endif
    db::migrate(database);
    db::Worker worker{database, o.worker};
    for (const auto& type : o.types) {
      worker.on(type, [&o](db::JobContext& job) { process(job, o); });
    }
    running_worker = &worker;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
      stats = worker.run();
    } catch (...) {
      running_worker = nullptr;
      throw;
    }
    running_worker = nullptr;
  } catch (const db::Error& e) {
    std::fprintf(stderr, "worker: database error: %s\n", e.what());
    return 1;
  }
  std::printf("worker: rescued %lld, released %lld, lost %lld jobs\n",
              static_cast<long long>(stats.rescued),
              static_cast<long long>(stats.released),
              static_cast<long long>(stats.lost));
  std::printf("worker: %s; completed %lld jobs, failed %lld attempts\n",
              signalled ? "stopped by signal" : "idle",
              static_cast<long long>(stats.completed),
              static_cast<long long>(stats.failed));
  return 0;
}
