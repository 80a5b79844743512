// Target 1: a scoped single read, the library against hand-written libpq
// (sequential: BEGIN, prepared SELECT, COMMIT), the same three statements
// pipelined in one round trip (the floor), and libpqxx. Beside them, the
// least any client can send for a read: the prepared SELECT alone, in the
// server's implicit transaction (a ceiling for the ratio to SQLAlchemy).
// Also what session state costs between pool users: a read after a plain SET
// (the pool resets the connection when it comes back) against one after a
// SET LOCAL (nothing to reset), and the SQL check that tells them apart.
#include <benchmark/benchmark.h>

#include <pqxx/pqxx>
#include <random>
#include <vector>

#include "bench_env.hpp"
#include "soundhash/db/detail/session_state.hpp"

namespace db = soundhash::db;

namespace {

// What a hand-written caller does with the row: copy every column out.
std::vector<std::string> take_row(const PGresult* r) {
  std::vector<std::string> row;
  row.reserve(static_cast<std::size_t>(PQnfields(r)));
  for (int c = 0; c < PQnfields(r); ++c) {
    row.emplace_back(PQgetvalue(r, 0, c),
                     static_cast<std::size_t>(PQgetlength(r, 0, c)));
  }
  return row;
}

std::string next_video(std::mt19937& rng) {
  return bench::video_id(static_cast<int>(rng() % bench::kVideos));
}

// A raw connection to the seeded database with the read prepared as "get".
PGconn* connect_with_get() {
  bench::database();  // schema and data
  PGconn* c = bench::connect_raw();
  PQclear(PQprepare(c, "get", bench::kGetVideoSql, 1, nullptr));
  return c;
}

// The prepared read of video `id`, waited for, its row copied out.
std::vector<std::string> get_row(PGconn* c, const std::string& id,
                                 benchmark::State& state) {
  const char* values[] = {id.c_str()};
  PGresult* r = PQexecPrepared(c, "get", 1, values, nullptr, nullptr, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    state.SkipWithError("query failed");
  }
  auto row = take_row(r);
  PQclear(r);
  return row;
}

void BM_ScopedRead_Library(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto repo = db::video_repository(database);
    auto v = repo->get_video_by_id(next_video(rng));
    if (!v) state.SkipWithError("missing video");
    benchmark::DoNotOptimize(v);
  }
}

void BM_ScopedRead_LibpqSequential(benchmark::State& state) {
  PGconn* c = connect_with_get();
  std::mt19937 rng(1);
  for (auto _ : state) {
    bench::exec_raw(c, "BEGIN");
    auto row = get_row(c, next_video(rng), state);
    bench::exec_raw(c, "COMMIT");
    benchmark::DoNotOptimize(row);
  }
  PQfinish(c);
}

void BM_ScopedRead_LibpqPipelined(benchmark::State& state) {
  PGconn* c = connect_with_get();
  PQenterPipelineMode(c);
  std::mt19937 rng(1);
  for (auto _ : state) {
    const std::string id = next_video(rng);
    const char* values[] = {id.c_str()};
    PQsendQueryParams(c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQsendQueryPrepared(c, "get", 1, values, nullptr, nullptr, 0);
    PQsendQueryParams(c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c);
    std::vector<std::string> row;
    for (int i = 0; i < 3; ++i) {
      while (PGresult* r = PQgetResult(c)) {
        if (i == 1 && PQresultStatus(r) == PGRES_TUPLES_OK) row = take_row(r);
        PQclear(r);
      }
    }
    PQclear(PQgetResult(c));  // the sync
    benchmark::DoNotOptimize(row);
  }
  PQexitPipelineMode(c);
  PQfinish(c);
}

void BM_Read_LibpqBare(benchmark::State& state) {
  PGconn* c = connect_with_get();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto row = get_row(c, next_video(rng), state);
    benchmark::DoNotOptimize(row);
  }
  PQfinish(c);
}

void BM_ScopedRead_Libpqxx(benchmark::State& state) {
  bench::database();
  pqxx::connection c(bench::conninfo());
  c.prepare("get", bench::kGetVideoSql);
  std::mt19937 rng(1);
  for (auto _ : state) {
    pqxx::work w(c);
    auto r = w.exec_prepared("get", next_video(rng));
    std::vector<std::string> row;
    for (const auto& f : r[0]) row.emplace_back(f.c_str(), f.size());
    w.commit();
    benchmark::DoNotOptimize(row);
  }
}

// A scoped read after `set` (one statement of the same unit).
void scoped_read_after(const char* set, benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(1);
  for (auto _ : state) {
    auto s = database.session();
    s.execute(set);
    db::VideoRepository videos{s};
    auto v = videos.get_video_by_id(next_video(rng));
    if (!v) state.SkipWithError("missing video");
    benchmark::DoNotOptimize(v);
  }
}

void BM_ScopedRead_AfterPlainSet(benchmark::State& state) {
  scoped_read_after("SET statement_timeout = '10s'", state);
}

void BM_ScopedRead_AfterSetLocal(benchmark::State& state) {
  scoped_read_after("SET LOCAL statement_timeout = '10s'", state);
}

// The check a statement gets when it is not a cached prepared statement
// (a cached one was checked once, when it was prepared).
void BM_ClassifySql(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(db::detail::classify_sql(bench::kGetVideoSql));
  }
}

// Target 5: threads over a pool of 8 (the library's Database is shared).
void BM_ScopedRead_Library_Threads(benchmark::State& state) {
  auto& database = bench::database();
  std::mt19937 rng(static_cast<unsigned>(state.thread_index()) + 1);
  for (auto _ : state) {
    auto repo = db::video_repository(database);
    auto v = repo->get_video_by_id(next_video(rng));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_ScopedRead_Library)->UseRealTime();
BENCHMARK(BM_ScopedRead_LibpqSequential)->UseRealTime();
BENCHMARK(BM_ScopedRead_LibpqPipelined)->UseRealTime();
BENCHMARK(BM_ScopedRead_Libpqxx)->UseRealTime();
BENCHMARK(BM_Read_LibpqBare)->UseRealTime();
BENCHMARK(BM_ScopedRead_AfterPlainSet)->UseRealTime();
BENCHMARK(BM_ScopedRead_AfterSetLocal)->UseRealTime();
BENCHMARK(BM_ClassifySql);
BENCHMARK(BM_ScopedRead_Library_Threads)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->Threads(8)
    ->UseRealTime();
