// Target 2: scoped create_job_if_not_exists, half the calls hitting an
// existing job and half creating one, against hand-written sequential libpq
// (BEGIN, advisory lock, SELECT, INSERT if absent, COMMIT) and libpqxx doing
// the same.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <pqxx/pqxx>
#include <random>

#include "bench_env.hpp"

namespace db = soundhash::db;

namespace {

constexpr const char* kLockSql =
    "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))";
constexpr const char* kFindSql =
    "SELECT id, status FROM processing_jobs WHERE job_type = $1 AND "
    "target_id = $2 AND status = ANY ($3::text[]) ORDER BY id DESC LIMIT 1";
constexpr const char* kInsertSql =
    "INSERT INTO processing_jobs (job_type, target_id) VALUES ($1, $2) "
    "RETURNING id, status";

// Even iterations hit an existing job, odd ones create a new one.
struct Targets {
  std::mt19937 rng{7};
  long long n = 0;
  std::string next(const char* who) {
    static std::atomic<long long> unique{0};
    if (n++ % 2 == 0) {
      return bench::existing_target(
          static_cast<int>(rng() % bench::kExistingJobs));
    }
    return std::string("bench-new-") + who + "-" + std::to_string(getpid()) +
           "-" + std::to_string(unique++);
  }
};

void BM_CreateJob_Library(benchmark::State& state) {
  auto& database = bench::database();
  Targets t;
  for (auto _ : state) {
    auto repo = db::job_repository(database);
    auto r = repo->create_job_if_not_exists("video_process", t.next("lib"));
    benchmark::DoNotOptimize(r);
  }
}

void BM_CreateJob_LibpqSequential(benchmark::State& state) {
  bench::database();
  PGconn* c = bench::connect_raw();
  PQclear(PQprepare(c, "lock", kLockSql, 2, nullptr));
  PQclear(PQprepare(c, "find", kFindSql, 3, nullptr));
  PQclear(PQprepare(c, "insert", kInsertSql, 2, nullptr));
  Targets t;
  for (auto _ : state) {
    const std::string target = t.next("libpq");
    const char* v[] = {"video_process", target.c_str(), "{pending,running}"};
    bench::exec_raw(c, "BEGIN");
    PQclear(PQexecPrepared(c, "lock", 2, v, nullptr, nullptr, 0));
    PGresult* r = PQexecPrepared(c, "find", 3, v, nullptr, nullptr, 0);
    bool created = false;
    if (PQntuples(r) == 0) {
      PQclear(r);
      r = PQexecPrepared(c, "insert", 2, v, nullptr, nullptr, 0);
      created = true;
    }
    std::string id = PQgetvalue(r, 0, 0);
    PQclear(r);
    bench::exec_raw(c, "COMMIT");
    benchmark::DoNotOptimize(id);
    benchmark::DoNotOptimize(created);
  }
  PQfinish(c);
}

void BM_CreateJob_Libpqxx(benchmark::State& state) {
  bench::database();
  pqxx::connection c(bench::conninfo());
  c.prepare("lock", kLockSql);
  c.prepare("find", kFindSql);
  c.prepare("insert", kInsertSql);
  Targets t;
  for (auto _ : state) {
    const std::string target = t.next("pqxx");
    pqxx::work w(c);
    w.exec_prepared("lock", "video_process", target);
    auto r =
        w.exec_prepared("find", "video_process", target, "{pending,running}");
    bool created = false;
    if (r.empty()) {
      r = w.exec_prepared("insert", "video_process", target);
      created = true;
    }
    const auto id = r[0][0].as<long long>();
    w.commit();
    benchmark::DoNotOptimize(id);
    benchmark::DoNotOptimize(created);
  }
}

}  // namespace

BENCHMARK(BM_CreateJob_Library)->UseRealTime();
BENCHMARK(BM_CreateJob_LibpqSequential)->UseRealTime();
BENCHMARK(BM_CreateJob_Libpqxx)->UseRealTime();
