// Scoped reads on a standby against the same reads on the primary, at 1, 2
// and 4 threads, and the same standby reads with a max_lag bound (the
// staleness check's cost). Run by bench/run-replicas, which starts both
// servers; rounds interleave the modes and the table shows medians.
//
//   soundhash_replica_bench PRIMARY_CONNINFO REPLICA_CONNINFO [SECONDS]
//   [ROUNDS]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "soundhash/db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

constexpr int kRows = 10000;

enum class Mode { primary, replica, replica_max_lag };

// Reads per second over `seconds` with `threads` threads, each unit a
// read_session with one point lookup.
double run(db::Database& database, Mode mode, int threads, double seconds) {
  db::ReadOptions options;
  if (mode == Mode::replica_max_lag) options.max_lag = 1000ms;
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      long n = 0;
      unsigned key = static_cast<unsigned>(t) * 7919u;
      while (!stop.load(std::memory_order_relaxed)) {
        key = key * 1103515245u + 12345u;
        auto s = database.read_session(options);
        (void)s
            .read("SELECT id, body FROM bench_reads WHERE id = $1",
                  static_cast<std::int64_t>(key % kRows) + 1)
            .one();
        ++n;
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  return static_cast<double>(done.load()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: soundhash_replica_bench PRIMARY REPLICA [SECONDS] "
                 "[ROUNDS]\n");
    return 2;
  }
  const double seconds = argc > 3 ? std::atof(argv[3]) : 3.0;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 3;
  db::Config pc;
  pc.conninfo = argv[1];
  pc.pool_size = 8;
  db::Database primary{pc};
  db::Config rc = pc;
  rc.replica_conninfo = argv[2];
  rc.replica_pool_size = 8;
  db::Database replica{rc};

  primary.transact([](db::Session& s) {
    s.execute_script(
        "DROP TABLE IF EXISTS bench_reads; "
        "CREATE TABLE bench_reads (id bigint PRIMARY KEY, body text); "
        "INSERT INTO bench_reads SELECT g, md5(g::text) FROM "
        "generate_series(1, 10000) g; ANALYZE bench_reads");
  });
  db::ReadOptions caught_up;
  caught_up.after = primary.commit_token();
  caught_up.after_wait = 30s;
  replica.read_transact(
      [](db::Session& s) {
        if (!s.read("SELECT pg_is_in_recovery()").one()[0].as<bool>()) {
          std::fprintf(stderr, "the replica did not catch up\n");
          std::exit(1);
        }
      },
      caught_up);

  std::map<std::pair<int, Mode>, std::vector<double>> results;
  const Mode modes[] = {Mode::primary, Mode::replica, Mode::replica_max_lag};
  for (int r = 0; r < rounds; ++r) {
    for (int threads : {1, 2, 4}) {
      for (Mode m : modes) {
        // Warm the pools, then measure.
        run(m == Mode::primary ? primary : replica, m, threads, 0.2);
        results[{threads, m}].push_back(
            run(m == Mode::primary ? primary : replica, m, threads, seconds));
      }
    }
    std::fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
  }
  std::printf(
      "| threads | primary reads/s | standby reads/s | standby/primary "
      "| standby + max_lag reads/s | max_lag/plain |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int threads : {1, 2, 4}) {
    auto median = [&](Mode m) {
      auto v = results[{threads, m}];
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double p = median(Mode::primary), s = median(Mode::replica),
                 l = median(Mode::replica_max_lag);
    std::printf("| %d | %.0f | %.0f | %.2f | %.0f | %.3f |\n", threads, p, s,
                s / p, l, l / s);
  }
  // The spread across rounds: a difference inside it is noise.
  std::printf(
      "\n| threads | primary min-max | standby min-max "
      "| standby + max_lag min-max |\n");
  std::printf("| ---: | ---: | ---: | ---: |\n");
  for (int threads : {1, 2, 4}) {
    auto range = [&](Mode m) {
      const auto& v = results[{threads, m}];
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      return std::to_string(static_cast<long>(*lo)) + "-" +
             std::to_string(static_cast<long>(*hi));
    };
    std::printf("| %d | %s | %s | %s |\n", threads,
                range(Mode::primary).c_str(), range(Mode::replica).c_str(),
                range(Mode::replica_max_lag).c_str());
  }
  return 0;
}
