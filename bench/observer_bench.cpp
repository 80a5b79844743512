// What observing costs on the scoped read (bench/run-observe): the library
// with no observer (BM_ScopedRead_Library, in reads_bench.cpp), with an
// observer that does nothing (the events' own cost), and with the Prometheus
// exporter installed.
#include <benchmark/benchmark.h>

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
#endif

}  // namespace

BENCHMARK(BM_ScopedRead_NoopObserver)->UseRealTime();
