#include "bench_env.hpp"

#include <cstdlib>
#include <stdexcept>

namespace bench {

const std::string& conninfo() {
  static const std::string url = [] {
    const char* u = std::getenv("SOUNDHASH_BENCH_DATABASE_URL");
    if (!u || !*u) {
      throw std::runtime_error(
          "SOUNDHASH_BENCH_DATABASE_URL is not set: run the benchmarks with "
          "bench/run, which starts a throwaway server");
    }
    return std::string(u);
  }();
  return url;
}

std::string video_id(int i) { return "bench-video-" + std::to_string(i); }
std::string existing_target(int i) {
  return "bench-existing-" + std::to_string(i);
}

soundhash::db::Database& database() {
  static soundhash::db::Database* db = [] {
    // The peers log nothing; neither do we while timed (INFO per created
    // job would be a write to stderr each).
    soundhash::db::logger().set_level(spdlog::level::warn);
    soundhash::db::Config c;
    c.conninfo = conninfo();
    c.pool_size = 8;
    auto* d = new soundhash::db::Database(c);
    soundhash::db::migrate(*d);
    d->transact([](soundhash::db::Session& s) {
      if (s.execute("SELECT count(*) FROM videos").as<long long>() > 0) {
        return;
      }
      s.execute(
          "INSERT INTO channels (channel_id, channel_name) VALUES "
          "('bench-channel', 'Benchmark channel')");
      s.execute(
          "INSERT INTO videos (video_id, channel_id, title, url, duration) "
          "SELECT 'bench-video-' || i, (SELECT id FROM channels), "
          "'Video ' || i, 'https://example.invalid/' || i, i % 600 "
          "FROM generate_series(0, $1 - 1) i",
          kVideos);
      s.execute(
          "INSERT INTO processing_jobs (job_type, target_id) "
          "SELECT 'video_process', 'bench-existing-' || i "
          "FROM generate_series(0, $1 - 1) i",
          kExistingJobs);
    });
    // Settle the server before anything is timed: no autovacuum of the
    // fresh rows in the middle of a benchmark.
    PGconn* raw = connect_raw();
    exec_raw(raw, "VACUUM ANALYZE");
    PQfinish(raw);
    return d;
  }();
  return *db;
}

std::int64_t first_video_row() {
  static const std::int64_t id = [] {
    auto s = database().session();
    return s.read("SELECT min(id) FROM videos").as<std::int64_t>();
  }();
  return id;
}

PGconn* connect_raw() {
  PGconn* c = PQconnectdb(conninfo().c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("connect: " + msg);
  }
  return c;
}

void exec_raw(PGconn* c, const char* sql, ExecStatusType expect) {
  PGresult* r = PQexec(c, sql);
  const bool ok = PQresultStatus(r) == expect;
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) throw std::runtime_error(std::string(sql) + ": " + err);
}

}  // namespace bench
