// The pipeline API against the sequential calls it replaces, for 10 and 100
// statements in one scoped unit: reads of videos by id (as Session::read
// calls, or as one Pipeline of add_read), and single-row updates (as
// Session::execute calls, or as one Pipeline of add). Beside them the floor:
// the same reads pipelined by hand in libpq (BEGIN READ ONLY, the prepared
// SELECTs, COMMIT, one Sync).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "bench_env.hpp"

namespace db = soundhash::db;

namespace {

constexpr const char* kBumpSql =
    "UPDATE videos SET view_count = coalesce(view_count, 0) + 1 "
    "WHERE video_id = $1";

std::string next_video(std::mt19937& rng) {
  return bench::video_id(static_cast<int>(rng() % bench::kVideos));
}

void count_items(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          state.range(0));
}

void BM_PipelineReads_Sequential(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto s = database.session();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      auto r = s.read(bench::kGetVideoSql, next_video(rng));
      benchmark::DoNotOptimize(r.one());
    }
  }
  count_items(state);
}

void BM_PipelineReads_Pipeline(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  std::vector<db::Pipeline::Handle> handles;
  for (auto _ : state) {
    auto s = database.session();
    auto p = s.pipeline();
    handles.clear();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      handles.push_back(p.add_read(bench::kGetVideoSql, next_video(rng)));
    }
    p.sync();
    for (const auto& h : handles) benchmark::DoNotOptimize(h.result().one());
  }
  count_items(state);
}

void BM_PipelineReads_LibpqPipelined(benchmark::State& state) {
  bench::database();  // schema and data
  PGconn* c = bench::connect_raw();
  PQclear(PQprepare(c, "get", bench::kGetVideoSql, 1, nullptr));
  std::mt19937 rng(1);
  const auto n = state.range(0);
  std::vector<std::string> ids(static_cast<std::size_t>(n));
  for (auto _ : state) {
    PQenterPipelineMode(c);
    PQsendQueryParams(c, "BEGIN READ ONLY", 0, nullptr, nullptr, nullptr,
                      nullptr, 1);
    for (auto& id : ids) {
      id = next_video(rng);
      const char* values[] = {id.c_str()};
      PQsendQueryPrepared(c, "get", 1, values, nullptr, nullptr, 1);
    }
    PQsendQueryParams(c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 1);
    PQpipelineSync(c);
    for (std::int64_t i = 0; i < n + 2; ++i) {
      PGresult* r = PQgetResult(c);
      if (PQresultStatus(r) != PGRES_TUPLES_OK &&
          PQresultStatus(r) != PGRES_COMMAND_OK) {
        state.SkipWithError("query failed");
      }
      if (PQntuples(r) > 0) benchmark::DoNotOptimize(PQgetvalue(r, 0, 0));
      PQclear(r);
      PQclear(PQgetResult(c));  // the null that ends each statement
    }
    PQclear(PQgetResult(c));  // the Sync
    PQexitPipelineMode(c);
  }
  PQfinish(c);
  count_items(state);
}

void BM_PipelineWrites_Sequential(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto s = database.session();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      benchmark::DoNotOptimize(s.execute(kBumpSql, next_video(rng)));
    }
  }
  count_items(state);
}

void BM_PipelineWrites_Pipeline(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto s = database.session();
    auto p = s.pipeline();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      p.add(kBumpSql, next_video(rng));
    }
    p.sync();
  }
  count_items(state);
}

}  // namespace

BENCHMARK(BM_PipelineReads_Sequential)->Arg(10)->Arg(100)->UseRealTime();
BENCHMARK(BM_PipelineReads_Pipeline)->Arg(10)->Arg(100)->UseRealTime();
BENCHMARK(BM_PipelineReads_LibpqPipelined)->Arg(10)->Arg(100)->UseRealTime();
BENCHMARK(BM_PipelineWrites_Sequential)->Arg(10)->Arg(100)->UseRealTime();
BENCHMARK(BM_PipelineWrites_Pipeline)->Arg(10)->Arg(100)->UseRealTime();
