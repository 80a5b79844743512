// The match path at archive scale (bench/run-match generates the archive in
// the server with bench/match_archive.sql). One 500-hash query, measured
// side by side in one process:
//   - find_matches vs the per-hash loop of find_matching_fingerprints plus
//     the same vote ranked in C++ (both answers checked equal);
//   - find_matching_fingerprints_batch vs the per-hash loop;
//   - both vs a hand-written libpq peer sending the same single statement;
//   - find_matches latency p50/p99 at 1, 2 and 4 threads;
//   - what a 0.5 ms network round trip would make of the ratio.
// Prints a Markdown table. Reads SOUNDHASH_BENCH_DATABASE_URL.

#include <libpq-fe.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <soundhash/db.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sql/matches.hpp"

namespace db = soundhash::db;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kQueryHashes = 500;
constexpr int kClipHashes = 60;  // 30 s of the source video
constexpr int kLimit = 10;
constexpr double kBin = db::MatchCandidate::default_bin_seconds;
// The least any one statement answering the query must do: the 500 index
// lookups, with nothing but a count on top.
constexpr const char* kLookupsOnly = R"sql(
SELECT count(*)
  FROM unnest($1::text[]) AS q (hash)
  JOIN audio_fingerprints AS f ON f.fingerprint_hash = q.hash
)sql";

std::string conninfo() {
  const char* url = std::getenv("SOUNDHASH_BENCH_DATABASE_URL");
  if (!url) throw std::runtime_error("SOUNDHASH_BENCH_DATABASE_URL not set");
  return url;
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Median of `runs` timings of fn, in microseconds (after one warm-up).
double median_us(int runs, const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(us_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The vote of find_matches, in C++, over per-hash lookups.
std::vector<db::MatchCandidate> rank_in_cpp(
    const std::vector<db::QueryHash>& q,
    const std::vector<std::vector<db::AudioFingerprint>>& found) {
  std::set<std::tuple<std::int64_t, std::size_t, double>> hits;
  for (std::size_t i = 0; i < q.size(); ++i) {
    for (const auto& f : found[i]) {
      hits.emplace(f.video_id, i,
                   std::rint((f.start_time - q[i].offset) / kBin));
    }
  }
  std::map<std::pair<std::int64_t, double>, std::int64_t> votes;
  std::map<std::int64_t, std::set<std::size_t>> in_video;
  for (const auto& [v, i, b] : hits) {
    ++votes[{v, b}];
    in_video[v].insert(i);
  }
  std::map<std::int64_t, db::MatchCandidate> best;
  for (const auto& [key, n] : votes) {
    auto& c = best[key.first];
    if (n > c.matched_hashes) c = {key.first, n, 0, key.second * kBin, 0};
  }
  std::vector<db::MatchCandidate> out;
  for (auto& [v, c] : best) {
    c.hashes_in_video = static_cast<std::int64_t>(in_video[v].size());
    c.score =
        static_cast<double>(c.matched_hashes) / static_cast<double>(q.size());
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.matched_hashes != b.matched_hashes
               ? a.matched_hashes > b.matched_hashes
               : a.video_id < b.video_id;
  });
  if (out.size() > kLimit) out.resize(kLimit);
  return out;
}

bool same(const std::vector<db::MatchCandidate>& a,
          const std::vector<db::MatchCandidate>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].video_id != b[i].video_id ||
        a[i].matched_hashes != b[i].matched_hashes ||
        a[i].hashes_in_video != b[i].hashes_in_video ||
        a[i].offset != b[i].offset || a[i].score != b[i].score) {
      return false;
    }
  }
  return true;
}

// Array literal of text elements (hashes are hex: no quoting needed, but
// quote anyway as the library does).
std::string text_array(const std::vector<db::QueryHash>& q) {
  std::string s = "{";
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (i) s += ',';
    s += '"' + q[i].hash + '"';
  }
  return s + "}";
}

std::string float_array(const std::vector<db::QueryHash>& q) {
  std::string s = "{";
  char buf[32];
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (i) s += ',';
    std::snprintf(buf, sizeof buf, "%.17g", q[i].offset);
    s += buf;
  }
  return s + "}";
}

// The hand-written peer: PQexecParams of the statement text, text results
// read into the same structs.
struct RawPeer {
  PGconn* c;
  explicit RawPeer(const std::string& info) : c(PQconnectdb(info.c_str())) {
    if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error("raw connect");
  }
  ~RawPeer() { PQfinish(c); }
  PGresult* run(std::string_view sql, std::vector<std::string> params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    const std::string text(sql);
    PGresult* r = PQexecParams(c, text.c_str(), static_cast<int>(values.size()),
                               nullptr, values.data(), nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("raw peer: " + msg);
    }
    return r;
  }
  std::vector<db::MatchCandidate> find_matches(
      const std::vector<db::QueryHash>& q) {
    PGresult* r = run(db::detail::sql::kFindMatches,
                      {text_array(q), float_array(q), "0.1", "10"});
    std::vector<db::MatchCandidate> out;
    for (int i = 0; i < PQntuples(r); ++i) {
      out.push_back({std::stoll(PQgetvalue(r, i, 0)),
                     std::stoll(PQgetvalue(r, i, 1)),
                     std::stoll(PQgetvalue(r, i, 2)),
                     std::strtod(PQgetvalue(r, i, 3), nullptr),
                     std::strtod(PQgetvalue(r, i, 4), nullptr)});
    }
    PQclear(r);
    return out;
  }
  // The server's CPU time per call of fn, in microseconds: the backend's
  // on-CPU time (/proc/PID/schedstat, the server runs on this machine)
  // over `runs` calls. Unlike wall time it does not count the time a busy
  // machine keeps the backend waiting for a core. Returns -1 if unreadable.
  double server_cpu_us(int runs, const std::function<void()>& fn) {
    const std::string path =
        "/proc/" + std::to_string(PQbackendPID(c)) + "/schedstat";
    auto on_cpu_ns = [&]() -> double {
      std::FILE* f = std::fopen(path.c_str(), "r");
      if (!f) return -1;
      unsigned long long ns = 0;
      const int n = std::fscanf(f, "%llu", &ns);
      std::fclose(f);
      return n == 1 ? static_cast<double>(ns) : -1;
    };
    fn();
    const double before = on_cpu_ns();
    for (int i = 0; i < runs; ++i) fn();
    const double after = on_cpu_ns();
    if (before < 0 || after < 0) return -1;
    return (after - before) / 1000.0 / runs;
  }
  std::int64_t lookups_only(const std::vector<db::QueryHash>& q) {
    PGresult* r = run(kLookupsOnly, {text_array(q)});
    const std::int64_t n = std::stoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
  }
  void explain(std::string_view sql, std::vector<std::string> params) {
    PGresult* r = run("EXPLAIN (ANALYZE, BUFFERS) " + std::string(sql),
                      std::move(params));
    for (int i = 0; i < PQntuples(r); ++i) {
      std::printf("    %s\n", PQgetvalue(r, i, 0));
    }
    PQclear(r);
  }
  // The batch statement with binary results, decoded into the same structs
  // the library returns: what a hand-written peer does at its fastest.
  std::vector<std::vector<db::AudioFingerprint>> batch(
      const std::vector<db::QueryHash>& q) {
    const std::string sql(db::detail::sql::kFindMatchingFingerprintsBatch);
    const std::string hashes = text_array(q), limit = "1000";
    const char* values[] = {hashes.c_str(), limit.c_str()};
    PGresult* r =
        PQexecParams(c, sql.c_str(), 2, nullptr, values, nullptr, nullptr, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("raw peer: " + msg);
    }
    std::vector<std::vector<db::AudioFingerprint>> out(q.size());
    for (int i = 0; i < PQntuples(r); ++i) {
      db::AudioFingerprint f;
      f.id = be_int<std::int64_t>(r, i, 1);
      f.video_id = be_int<std::int64_t>(r, i, 2);
      f.start_time = be_double(r, i, 3);
      f.end_time = be_double(r, i, 4);
      f.fingerprint_hash.assign(PQgetvalue(r, i, 5),
                                static_cast<std::size_t>(PQgetlength(r, i, 5)));
      const auto* data =
          reinterpret_cast<const std::byte*>(PQgetvalue(r, i, 6));
      f.fingerprint_data.assign(data, data + PQgetlength(r, i, 6));
      if (!PQgetisnull(r, i, 7)) f.confidence_score = be_double(r, i, 7);
      if (!PQgetisnull(r, i, 8)) f.peak_count = be_int<std::int32_t>(r, i, 8);
      if (!PQgetisnull(r, i, 9)) f.sample_rate = be_int<std::int32_t>(r, i, 9);
      if (!PQgetisnull(r, i, 10)) f.segment_length = be_double(r, i, 10);
      // timestamptz: microseconds since 2000-01-01 UTC.
      f.created_at =
          db::Timestamp{std::chrono::duration_cast<db::Timestamp::duration>(
              std::chrono::microseconds{be_int<std::int64_t>(r, i, 11) +
                                        946684800000000LL})};
      out[static_cast<std::size_t>(be_int<std::int64_t>(r, i, 0) - 1)]
          .push_back(std::move(f));
    }
    PQclear(r);
    return out;
  }

 private:
  template <class T>
  static T be_int(PGresult* r, int row, int col) {
    std::make_unsigned_t<T> v = 0;
    const auto* p =
        reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col));
    for (std::size_t k = 0; k < sizeof(T); ++k)
      v = static_cast<std::make_unsigned_t<T>>((v << 8) | p[k]);
    return static_cast<T>(v);
  }
  static double be_double(PGresult* r, int row, int col) {
    return std::bit_cast<double>(be_int<std::int64_t>(r, row, col));
  }
};

}  // namespace

int main(int argc, char** argv) try {
  db::Config config;
  config.conninfo = conninfo();
  config.pool_size = 8;
  db::Database database{config};
  db::migrate(database);
  if (argc > 1 && std::string(argv[1]) == "--migrate-only") return 0;

  // The query: 60 hashes of a clip of one video (from 20 s), 440 hashes of
  // the archive at random offsets (each matches ~5 fingerprints elsewhere).
  std::mt19937 rng(7);
  std::vector<db::QueryHash> query;
  std::int64_t source = 0;
  database.transact([&](db::Session& s) {
    query.clear();  // a retried unit starts over
    source = s.read("SELECT id FROM videos WHERE video_id = 'bv25000'")
                 .as<std::int64_t>();
    for (const auto& r : s.read("SELECT fingerprint_hash, start_time FROM "
                                "audio_fingerprints WHERE video_id = $1 AND "
                                "start_time >= 20 ORDER BY start_time LIMIT $2",
                                source, kClipHashes)) {
      query.push_back({r[0].as<std::string>(), r[1].as<double>() - 20.0});
    }
    // Values of the archive's hash space (bench/match_archive.sql): almost
    // all occur, about 5 times each, in unrelated videos.
    for (const auto& r :
         s.read("SELECT substr(md5((n * 7919 % 1000003)::text), 1, 16) "
                "FROM generate_series(1, $1) AS n",
                kQueryHashes - kClipHashes)) {
      query.push_back({r[0].as<std::string>(),
                       std::uniform_real_distribution<double>(0, 30)(rng)});
    }
  });
  if (query.size() != kQueryHashes) {
    throw std::runtime_error("the archive is not bench/match_archive.sql's");
  }
  std::shuffle(query.begin(), query.end(), rng);
  std::vector<std::string> hashes;
  for (const auto& h : query) hashes.push_back(h.hash);

  auto server = [&] {
    return database.transact([&](db::Session& s) {
      return db::VideoRepository{s}.find_matches(query, kLimit);
    });
  };
  auto loop_lookups = [&] {
    return database.transact([&](db::Session& s) {
      db::VideoRepository repo{s};
      std::vector<std::vector<db::AudioFingerprint>> found;
      for (const auto& h : hashes) {
        found.push_back(repo.find_matching_fingerprints(h));
      }
      return found;
    });
  };
  auto batch = [&] {
    return database.transact([&](db::Session& s) {
      return db::VideoRepository{s}.find_matching_fingerprints_batch(hashes);
    });
  };

  // Same answers first.
  const auto by_server = server();
  const auto by_loop = rank_in_cpp(query, loop_lookups());
  RawPeer raw(config.conninfo);
  const auto by_raw = raw.find_matches(query);
  if (!same(by_server, by_loop) || !same(by_server, by_raw)) {
    std::fprintf(stderr, "match_bench: the answers differ\n");
    return 1;
  }
  if (by_server.empty() || by_server[0].video_id != source) {
    std::fprintf(stderr,
                 "match_bench: the source video (%lld) did not win (%zu "
                 "candidates, %zu query hashes)\n",
                 static_cast<long long>(source), by_server.size(),
                 query.size());
    for (const auto& c : by_server) {
      std::fprintf(stderr, "  video %lld matched %lld in video %lld\n",
                   static_cast<long long>(c.video_id),
                   static_cast<long long>(c.matched_hashes),
                   static_cast<long long>(c.hashes_in_video));
    }
    return 1;
  }
  const auto looked_up = loop_lookups();
  const auto batched = batch();
  const auto raw_batched = raw.batch(query);
  for (std::size_t i = 0; i < looked_up.size(); ++i) {
    if (looked_up[i].size() != batched[i].size() ||
        raw_batched[i].size() != batched[i].size() ||
        (!batched[i].empty() &&
         (raw_batched[i][0].id != batched[i][0].id ||
          raw_batched[i][0].created_at != batched[i][0].created_at ||
          raw_batched[i][0].start_time != batched[i][0].start_time))) {
      std::fprintf(stderr, "match_bench: batch differs from the loop\n");
      return 1;
    }
  }

  // Every measure once per round, in a new random order each round, and
  // the median of each over the rounds: a slow spell of a noisy machine
  // falls on all of them alike.
  const double rtt = median_us(200, [&] {
    database.transact([&](db::Session& s) { s.read("SELECT 1"); });
  });
  auto lookups_only = [&] {  // the ceiling: the 500 index lookups, counted
    return database.transact([&](db::Session& s) {
      return s.read(kLookupsOnly, hashes).as<std::int64_t>();
    });
  };
  std::vector<std::pair<const char*, std::function<void()>>> measures = {
      {"server", [&] { (void)server(); }},
      {"raw", [&] { (void)raw.find_matches(query); }},
      {"ceiling", [&] { (void)lookups_only(); }},
      {"loop_rank", [&] { (void)rank_in_cpp(query, loop_lookups()); }},
      {"loop", [&] { (void)loop_lookups(); }},
      {"batch", [&] { (void)batch(); }},
      {"raw_batch", [&] { (void)raw.batch(query); }},
  };
  std::map<std::string, std::vector<double>> times;
  for (auto& [name, fn] : measures) fn();  // warm up
  for (int round = 0; round < 30; ++round) {
    std::shuffle(measures.begin(), measures.end(), rng);
    for (auto& [name, fn] : measures) {
      const auto t0 = Clock::now();
      fn();
      times[name].push_back(us_since(t0));
    }
  }
  auto median = [&](const char* name) {
    auto& t = times[name];
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const double t_server = median("server");
  const double t_raw = median("raw");
  const double t_ceiling = median("ceiling");
  const double t_loop_rank = median("loop_rank");
  const double t_loop = median("loop");
  const double t_batch = median("batch");
  const double t_raw_batch = median("raw_batch");

  // At 0.5 ms per round trip: each loop pays 500 more round trips than the
  // single statement (plus the session's BEGIN/COMMIT, the same for both).
  const double extra = 500.0 - rtt;
  const double wan_server = t_server + extra;
  const double wan_loop = t_loop_rank + kQueryHashes * extra + extra;

  std::printf(
      "| measure (500-hash query, 5M fingerprints, 50,000 videos) "
      "| time | ratio |\n| --- | --- | --- |\n");
  std::printf("| loopback round trip (SELECT 1 in a transact) | %.0f µs | |\n",
              rtt);
  std::printf("| find_matches | %.0f µs | 1.00 |\n", t_server);
  std::printf(
      "| libpq peer, same statement | %.0f µs | find_matches at %.2fx of "
      "the peer's time |\n",
      t_raw, t_server / t_raw);
  std::printf(
      "| per-hash loop + C++ ranking | %.0f µs | find_matches "
      "%.1fx faster |\n",
      t_loop_rank, t_loop_rank / t_server);
  std::printf(
      "| same at 0.5 ms per round trip (computed) | %.0f µs vs "
      "%.0f µs | find_matches %.1fx faster |\n",
      wan_loop, wan_server, wan_loop / wan_server);
  std::printf(
      "| the 500 lookups alone, counted (the ceiling of any one statement) "
      "| %.0f µs | loop / ceiling: %.1fx; find_matches at %.2f of the "
      "ceiling's speed |\n",
      t_ceiling, t_loop_rank / t_ceiling, t_ceiling / t_server);
  std::printf(
      "| find_matching_fingerprints_batch | %.0f µs | batch "
      "%.1fx faster than the loop |\n",
      t_batch, t_loop / t_batch);
  std::printf("| per-hash loop of find_matching_fingerprints | %.0f µs | |\n",
              t_loop);
  std::printf(
      "| libpq peer, batch statement (binary, into the same structs) | %.0f "
      "µs | batch at %.2fx of the peer's time |\n",
      t_raw_batch, t_batch / t_raw_batch);

  // The same two statements, by the server's CPU time (the libpq peer's
  // connection): what the vote costs on top of the lookups, free of the
  // scheduler's noise. Alternated, 5 blocks of 20 calls each.
  std::vector<double> cpu_match, cpu_lookups;
  for (int block = 0; block < 5; ++block) {
    cpu_match.push_back(
        raw.server_cpu_us(20, [&] { (void)raw.find_matches(query); }));
    cpu_lookups.push_back(
        raw.server_cpu_us(20, [&] { (void)raw.lookups_only(query); }));
  }
  std::sort(cpu_match.begin(), cpu_match.end());
  std::sort(cpu_lookups.begin(), cpu_lookups.end());
  if (cpu_match[2] > 0 && cpu_lookups[2] > 0) {
    std::printf(
        "| server CPU per statement: find_matches / the 500 lookups alone | "
        "%.0f / %.0f µs | the vote adds %.0f%% to the lookups |\n",
        cpu_match[2], cpu_lookups[2],
        100.0 * (cpu_match[2] - cpu_lookups[2]) / cpu_lookups[2]);
  }

  for (int threads : {1, 2, 4}) {
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          const auto t0 = Clock::now();
          (void)server();
          lat[static_cast<std::size_t>(t)].push_back(us_since(t0));
        }
      });
    }
    for (auto& t : ts) t.join();
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    std::printf(
        "| find_matches, %d thread%s: p50 / p99 | %.0f / %.0f µs | "
        "|\n",
        threads, threads > 1 ? "s" : "", all[all.size() / 2],
        all[all.size() * 99 / 100]);
  }
  std::printf("\nEXPLAIN (ANALYZE, BUFFERS) of find_matches:\n\n");
  raw.explain(db::detail::sql::kFindMatches,
              {text_array(query), float_array(query), "0.1", "10"});
  std::printf(
      "\nEXPLAIN (ANALYZE, BUFFERS) of find_matching_fingerprints_"
      "batch:\n\n");
  raw.explain(db::detail::sql::kFindMatchingFingerprintsBatch,
              {text_array(query), "1000"});
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "match_bench: %s\n", e.what());
  return 1;
}
