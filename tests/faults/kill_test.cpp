// Faults that take connections away: killed backends under load, a COMMIT
// whose answer is lost, statement timeouts and cancels.
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "ledger.hpp"
#include "tcp_proxy.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// The value of `key` in the test database's conninfo.
std::string conninfo_value(const char* key) {
  PQconninfoOption* opts =
      PQconninfoParse(sh_test::conninfo().c_str(), nullptr);
  std::string v;
  for (auto* o = opts; o && o->keyword; ++o) {
    if (std::string_view(o->keyword) == key && o->val) v = o->val;
  }
  PQconninfoFree(opts);
  return v;
}

}  // namespace

// 3. A side thread kills random backends of ours while 8 threads run mixed
// repository work in transact.
TEST(Kill, RandomBackendsKilledUnderMixedLoad) {
  db::Database database{sh_test::storm_config(sh_test::conninfo(), 30)};
  db::migrate(database);
  sh_test::Side side;
  sh_test::Ledger ledger{side};
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    sh_test::Side k;
    std::mt19937 rng(42);
    // Faults stop with the load: while the last workers drain, the pool
    // shrinks to their connections, and a killer still running would hit
    // the same unit on every attempt until its budget ran out.
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 40));
      const auto pid = k.value(
          "SELECT pid FROM pg_stat_activity WHERE application_name = "
          "'soundhash-db' AND datname = current_database() ORDER BY random() "
          "LIMIT 1");
      if (!pid.empty()) {
        k.exec("SELECT pg_terminate_backend(" + pid + ")");
        ++kills;
      }
    }
  });
  std::atomic<int> units{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      for (int u = 0; !stop; ++u) {
        ++units;
        const std::string id =
            "k" + std::to_string(t) + "_" + std::to_string(u);
        ledger.record(id, [&] {
          database.transact([&](db::Session& s) {
            db::VideoRepository videos{s};
            db::JobRepository jobs{s};
            const auto ch = videos.create_channel("UC_" + id);
            const auto v = videos.create_video("v_" + id, ch.id);
            std::vector<db::NewFingerprint> fps(20);
            for (int i = 0; i < 20; ++i) {
              fps[static_cast<std::size_t>(i)].video_id = v.id;
              fps[static_cast<std::size_t>(i)].start_time = i;
              fps[static_cast<std::size_t>(i)].end_time = i + 1;
              fps[static_cast<std::size_t>(i)].fingerprint_hash =
                  "h" + std::to_string(i);
              fps[static_cast<std::size_t>(i)].fingerprint_data = db::Bytes(16);
            }
            videos.create_fingerprints_batch(fps);
            jobs.create_job_if_not_exists("video_process", "v_" + id);
            sh_test::Ledger::write(s, id, 5);
          });
        });
      }
    });
  }
  std::this_thread::sleep_for(4s);  // about 100 kills
  stop = true;
  killer.join();
  for (auto& w : workers) w.join();
  EXPECT_GT(kills.load(), 30) << "too few faults injected";
  EXPECT_EQ(ledger.committed_count() + ledger.in_doubt_count(),
            static_cast<std::size_t>(units.load()))
      << "every caller gets success or CommitInDoubt";
  ledger.check();
  // Repository rows follow their unit: a unit is all there or not at all.
  EXPECT_EQ(
      side.count("SELECT count(*) FROM channels c WHERE NOT EXISTS (SELECT 1 "
                 "FROM units u WHERE 'UC_' || u.id = c.channel_id)"),
      0);
  EXPECT_EQ(
      side.count("SELECT count(*) FROM units u WHERE (SELECT count(*) FROM "
                 "audio_fingerprints f JOIN videos v ON v.id = f.video_id "
                 "WHERE v.video_id = 'v_' || u.id) <> 20"),
      0);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"),
            side.count("SELECT count(*) FROM units"));
  std::this_thread::sleep_for(100ms);
  sh_test::Ledger::check_clean(database, side);
  std::printf("killed %d backends; %zu units committed, %d in doubt\n",
              kills.load(), ledger.committed_count(),
              static_cast<int>(ledger.in_doubt_count()));
}

// 8. The connection is lost after COMMIT reached the server but before its
// answer came back. The caller gets CommitInDoubt and nothing retries: the
// unit did commit, so re-running it would have applied it twice.
TEST(Kill, CommitWhoseAnswerIsLostIsCommitInDoubtNotRetried) {
  sh_test::Side side;
  side.exec("CREATE TABLE payments (note text NOT NULL)");  // no unique key
  sh_test::CommitCutter proxy(std::stoi(conninfo_value("port")));
  db::Config c = sh_test::config();
  c.conninfo = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
               " user=" + conninfo_value("user") +
               " dbname=" + conninfo_value("dbname") + " sslmode=disable";
  c.prepared_statements = false;  // so COMMIT is visible on the wire
  c.pool_size = 1;
  db::Database database{c};
  int attempts = 0;
  try {
    database.transact([&](db::Session& s) {
      ++attempts;
      s.execute("INSERT INTO payments VALUES ('pay 100')");
      proxy.arm();
    });
    FAIL() << "the lost COMMIT answer went unnoticed";
  } catch (const db::CommitInDoubt& e) {
    EXPECT_FALSE(e.is_transient());
  }
  EXPECT_TRUE(proxy.fired());
  EXPECT_EQ(attempts, 1) << "a COMMIT in doubt must not be retried";
  // It did commit: a retry would have paid twice.
  EXPECT_EQ(side.count("SELECT count(*) FROM payments"), 1);
  EXPECT_TRUE(sh_test::sleeps().empty());
  // The pool replaced the dead connection.
  database.transact([](db::Session& s) { s.execute("SELECT 1"); });
}

// 8a. The observer hears of that unit once, as in doubt: neither committed
// nor rolled back, since the library cannot know which it was.
TEST(Kill, CommitWhoseAnswerIsLostIsObservedAsOneUnitInDoubt) {
  struct Units : db::Observer {
    std::mutex m;
    std::vector<db::UnitOutcome> seen;
    void on_unit(db::UnitOutcome outcome) noexcept override {
      std::lock_guard lock(m);
      seen.push_back(outcome);
    }
  };
  sh_test::Side side;
  side.exec("CREATE TABLE payments (note text NOT NULL)");
  sh_test::CommitCutter proxy(std::stoi(conninfo_value("port")));
  auto units = std::make_shared<Units>();
  db::Config c = sh_test::config();
  c.conninfo = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
               " user=" + conninfo_value("user") +
               " dbname=" + conninfo_value("dbname") + " sslmode=disable";
  c.prepared_statements = false;  // so COMMIT is visible on the wire
  c.pool_size = 1;
  c.observer = units;
  db::Database database{c};
  EXPECT_THROW(database.transact([&](db::Session& s) {
    s.execute("INSERT INTO payments VALUES ('pay 100')");
    proxy.arm();
  }),
               db::CommitInDoubt);
  ASSERT_TRUE(proxy.fired());
  std::lock_guard lock(units->m);
  EXPECT_EQ(units->seen,
            std::vector<db::UnitOutcome>{db::UnitOutcome::in_doubt});
}

// 8b. The same in an autocommit session, whose write and COMMIT go out in
// one round trip: the answer to both is lost, so the write is in doubt.
TEST(Kill, AutocommitCommitWhoseAnswerIsLostIsCommitInDoubt) {
  sh_test::Side side;
  side.exec("CREATE TABLE payments (note text NOT NULL)");
  sh_test::CommitCutter proxy(std::stoi(conninfo_value("port")));
  db::Config c = sh_test::config();
  c.conninfo = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
               " user=" + conninfo_value("user") +
               " dbname=" + conninfo_value("dbname") + " sslmode=disable";
  c.prepared_statements = false;
  c.pool_size = 1;
  db::Database database{c};
  auto a = database.autocommit_session();
  a.execute("SELECT 1");  // connected before the proxy is armed
  proxy.arm();
  EXPECT_THROW(a.execute("INSERT INTO payments VALUES ('pay 100')"),
               db::CommitInDoubt);
  EXPECT_TRUE(proxy.fired());
  EXPECT_EQ(side.count("SELECT count(*) FROM payments"), 1);
  EXPECT_TRUE(sh_test::sleeps().empty()) << "an in-doubt write was retried";
}

// 9. Statement timeouts and cancels (57014) are not retried.
TEST(Kill, StatementTimeoutIsNotRetried) {
  db::Database database{sh_test::config()};
  int attempts = 0;
  EXPECT_THROW(database.transact([&](db::Session& s) {
    ++attempts;
    s.execute("SET LOCAL statement_timeout = '50ms'");
    s.execute("SELECT pg_sleep(2)");
  }),
               db::QueryCanceledError);
  EXPECT_EQ(attempts, 1);
  EXPECT_TRUE(sh_test::sleeps().empty());
  EXPECT_EQ(database.pool_stats().in_use, 0u);
}

TEST(Kill, CancelIsNotRetried) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  std::atomic<int> pid{0};
  std::thread canceller([&] {
    while (pid == 0) std::this_thread::sleep_for(1ms);
    const auto p = std::to_string(pid.load());
    for (int i = 0; i < 1000; ++i) {
      if (side.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + p +
                     " AND query LIKE '%pg_sleep%' AND state = 'active'") ==
          1) {
        side.exec("SELECT pg_cancel_backend(" + p + ")");
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  int attempts = 0;
  EXPECT_THROW(database.transact([&](db::Session& s) {
    ++attempts;
    pid = s.backend_pid();
    s.execute("SELECT pg_sleep(5)");
  }),
               db::QueryCanceledError);
  canceller.join();
  EXPECT_EQ(attempts, 1);
  EXPECT_TRUE(sh_test::sleeps().empty());
}
