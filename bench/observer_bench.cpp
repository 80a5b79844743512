// What observing costs on the scoped read (bench/run-observe): the library
// with no observer (BM_ScopedRead_Library, in reads_bench.cpp), with an
// observer that does nothing (the events' own cost), and with the Prometheus
// exporter installed.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>

#include "bench_env.hpp"
#ifdef SOUNDHASH_BENCH_PROMETHEUS
#include "soundhash/db/prometheus.hpp"
#endif

namespace db = soundhash::db;

namespace {

std::unique_ptr<db::Database> observed(std::shared_ptr<db::Observer> o) {
  bench::database();  // schema and data
  db::Config c;
  c.conninfo = bench::conninfo();
  c.pool_size = 8;
  c.observer = std::move(o);
  return std::make_unique<db::Database>(c);
}

void scoped_reads(db::Database& database, benchmark::State& state) {
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto repo = db::video_repository(database);
    auto v = repo->get_video_by_id(
        bench::video_id(static_cast<int>(rng() % bench::kVideos)));
    if (!v) state.SkipWithError("missing video");
    benchmark::DoNotOptimize(v);
  }
}

// Counts the events a scoped read reports, to show what the exporter is
// asked to do per read.
struct CountingObserver : db::Observer {
  std::atomic<long> statements{0}, units{0}, acquires{0}, others{0};
  void on_statement(const db::StatementEvent&) noexcept override {
    ++statements;
  }
  void on_retry(const db::RetryEvent&) noexcept override { ++others; }
  void on_unit(db::UnitOutcome) noexcept override { ++units; }
  void on_acquire(const db::AcquireEvent&) noexcept override { ++acquires; }
  void on_connection(db::ConnectionChange) noexcept override { ++others; }
};

void BM_ScopedRead_CountingObserver(benchmark::State& state) {
  static auto counting = std::make_shared<CountingObserver>();
  static auto database = observed(counting);
  const long s0 = counting->statements, u0 = counting->units,
             a0 = counting->acquires, o0 = counting->others;
  scoped_reads(*database, state);
  auto per_read = [&](long n) {
    return benchmark::Counter(static_cast<double>(n),
                              benchmark::Counter::kAvgIterations);
  };
  state.counters["statements"] = per_read(counting->statements - s0);
  state.counters["units"] = per_read(counting->units - u0);
  state.counters["acquires"] = per_read(counting->acquires - a0);
  state.counters["others"] = per_read(counting->others - o0);
}

void BM_ScopedRead_NoopObserver(benchmark::State& state) {
  static auto database = observed(std::make_shared<db::Observer>());
  scoped_reads(*database, state);
}

#ifdef SOUNDHASH_BENCH_PROMETHEUS
void BM_ScopedRead_Prometheus(benchmark::State& state) {
  static auto metrics = std::make_shared<db::PrometheusMetrics>();
  static auto database = observed(metrics);
  scoped_reads(*database, state);
}
BENCHMARK(BM_ScopedRead_Prometheus)->UseRealTime();

// The exporter's share of a scoped read without the server: the events one
// read reports (BM_ScopedRead_CountingObserver: one acquire, one statement,
// one unit) and the two clock reads the library takes around a statement
// when an observer is installed. CPU-bound, so a busy machine slows it
// no more than it slows anything else: compare it with a read's time.
void BM_PrometheusEventsOfOneRead(benchmark::State& state) {
  static auto metrics = std::make_shared<db::PrometheusMetrics>();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    metrics->on_acquire({std::chrono::microseconds{3}, false});
    const auto t1 = std::chrono::steady_clock::now();
    metrics->on_statement({"get_video_by_id",
                           t1 - t0 + std::chrono::microseconds{80},
                           1,
                           1,
                           true,
                           {}});
    metrics->on_unit(db::UnitOutcome::committed);
  }
}
BENCHMARK(BM_PrometheusEventsOfOneRead);
#endif

}  // namespace

BENCHMARK(BM_ScopedRead_NoopObserver)->UseRealTime();
BENCHMARK(BM_ScopedRead_CountingObserver)->UseRealTime();
