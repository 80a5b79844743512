// A bounded soak: 8 threads of mixed repository work while faults are
// injected every few seconds (killed backends, a lock blocker, hot rows taken
// in random order for deadlocks). Reports operations, retries, errors by
// class and RSS; checks the ledger invariant and that memory stays flat.
//
// SOUNDHASH_SOAK_SECONDS sets the length (default: 120, 30 under sanitizers).
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "ledger.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

// Counts retries from the library's WARN lines without keeping them.
struct RetryCounter : spdlog::sinks::base_sink<std::mutex> {
  std::atomic<long> retries{0};
  void sink_it_(const spdlog::details::log_msg& m) override {
    if (m.level == spdlog::level::warn) ++retries;
  }
  void flush_() override {}
};

int soak_seconds() {
  if (const char* s = std::getenv("SOUNDHASH_SOAK_SECONDS"); s && *s) {
    return std::stoi(s);
  }
  return SOUNDHASH_SOAK_DEFAULT_SECONDS;
}

}  // namespace

TEST(Soak, MixedWorkUnderRotatingFaults) {
  const int seconds = soak_seconds();
  auto cfg = sh_test::storm_config(sh_test::conninfo(), 30);
  db::Database database{cfg};
  db::migrate(database);
  sh_test::Side side;
  sh_test::Ledger ledger{side};
  ledger.tolerate_spurious_cancels();  // lock_timeout below; see ledger.hpp
  side.exec(
      "CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL);"
      "INSERT INTO hot SELECT g, 0 FROM generate_series(1, 4) g");
  auto counter = std::make_shared<RetryCounter>();
  db::logger().sinks().push_back(counter);
  const auto old_level = db::logger().level();
  db::logger().set_level(spdlog::level::warn);  // no per-job INFO lines

  std::atomic<bool> stop{false};
  std::atomic<long> units{0}, faults{0};

  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u);
      for (long u = 0; !stop; ++u) {
        const std::string id =
            "s" + std::to_string(t) + "_" + std::to_string(u);
        ++units;
        ledger.record(id, [&] {
          database.transact([&](db::Session& s) {
            s.execute("SET LOCAL lock_timeout = '300ms'");
            db::VideoRepository videos{s};
            db::JobRepository jobs{s};
            // Two hot rows in random order: deadlocks between workers.
            const int a = static_cast<int>(rng() % 4) + 1;
            const int b = a % 4 + 1;
            const bool flip = rng() % 2 != 0;
            s.execute("UPDATE hot SET n = n + 1 WHERE id = $1", flip ? a : b);
            s.execute("UPDATE hot SET n = n + 1 WHERE id = $1", flip ? b : a);
            const auto ch = videos.create_channel("UC_" + id);
            const auto v = videos.create_video("v_" + id, ch.id);
            std::vector<db::NewFingerprint> fps(10);
            for (int i = 0; i < 10; ++i) {
              auto& f = fps[static_cast<std::size_t>(i)];
              f.video_id = v.id;
              f.start_time = i;
              f.end_time = i + 1;
              f.fingerprint_hash = std::to_string(rng() % 1000);
              f.fingerprint_data = db::Bytes(32, std::byte{7});
            }
            videos.create_fingerprints_batch(fps);
            const auto [job, created] =
                jobs.create_job_if_not_exists("soak", "v_" + id);
            jobs.update_job_status(job.id, "completed", 100.0);
            (void)videos.find_matching_fingerprints(fps[0].fingerprint_hash, 5);
            sh_test::Ledger::write(s, id, 2);
          });
        });
      }
    });
  }

  // Faults, one every few seconds, in rotation.
  std::thread injector([&] {
    sh_test::Side k;
    std::mt19937 rng(99);
    for (int round = 0; !stop; ++round) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(1500 + rng() % 1500));
      if (stop) break;
      switch (round % 3) {
        case 0:  // kill two random backends of ours
          k.exec(
              "SELECT pg_terminate_backend(pid) FROM (SELECT pid FROM "
              "pg_stat_activity WHERE application_name = 'soundhash-db' AND "
              "datname = current_database() ORDER BY random() LIMIT 2) p");
          break;
        case 1:  // a blocker holds every hot row for a while: lock timeouts
          try {
            k.exec("BEGIN; SELECT * FROM hot ORDER BY id FOR UPDATE");
            std::this_thread::sleep_for(800ms);
          } catch (const std::exception&) {
            // The blocker can be a deadlock victim itself; that is a fault too.
          }
          k.exec("ROLLBACK");
          break;
        case 2:  // kill everything of ours at once
          k.exec(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
              "application_name = 'soundhash-db' AND datname = "
              "current_database()");
          break;
      }
      ++faults;
    }
  });

  std::this_thread::sleep_for(std::chrono::seconds(std::min(5, seconds / 4)));
  const long rss_start = rss_kb();
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < until) std::this_thread::sleep_for(100ms);
  stop = true;
  for (auto& w : workers) w.join();
  injector.join();
  const long rss_end = rss_kb();
  std::erase(db::logger().sinks(), counter);
  db::logger().set_level(old_level);

  std::printf(
      "soak: %d s, %ld units, %zu committed, %ld faults injected, %ld "
      "retries, RSS %ld kB -> %ld kB\n",
      seconds, units.load(), ledger.committed_count(), faults.load(),
      counter->retries.load(), rss_start, rss_end);
  std::printf("soak: CommitInDoubt: %zu\n", ledger.in_doubt_count());
  for (const auto& [cls, n] : ledger.errors_by_class()) {
    std::printf("soak: error %s: %ld\n", cls.c_str(), n);
  }

  EXPECT_GT(faults.load(), 0);
  EXPECT_GT(counter->retries.load(), 0) << "the faults caused no retries";
  EXPECT_GT(ledger.committed_count(), 0u);
  ledger.check();
  EXPECT_EQ(side.count("SELECT sum(n) FROM hot"),
            2 * side.count("SELECT count(*) FROM units"))
      << "every unit's hot-row updates are there exactly with it";
  std::this_thread::sleep_for(200ms);
  sh_test::Ledger::check_clean(database, side);
#if !SOUNDHASH_SOAK_SANITIZED
  // Flat memory: allow allocator noise, not growth with the work done.
  EXPECT_LT(rss_end, rss_start + rss_start / 4 + 8 * 1024);
#endif
}
