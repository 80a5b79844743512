// Failover: a primary with a synchronous streaming standby; clients use a
// multi-host conninfo with target_session_attrs=read-write. The primary is
// stopped mid-workload and the standby promoted: the workload continues on
// the new primary and no acknowledged unit is lost or doubled.
#include <atomic>
#include <thread>

#include "ledger.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

TEST(Failover, PrimaryStoppedStandbyPromotedWorkloadContinues) {
  sh_test::PrivateServer primary;
  {
    sh_test::Side p(primary.conninfo());
    // Acknowledged means on the standby too: synchronous replication, and
    // commits that wait for it (the test clusters default to async commit).
    p.exec("ALTER SYSTEM SET synchronous_commit = 'on'");
    p.exec("ALTER SYSTEM SET synchronous_standby_names = '*'");
    p.exec("SELECT pg_reload_conf()");
  }
  sh_test::PrivateServer standby(false, &primary);
  {
    sh_test::Side p(primary.conninfo());
    for (int i = 0;
         i < 500 &&
         p.value("SELECT sync_state FROM pg_stat_replication") != "sync";
         ++i) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(p.value("SELECT sync_state FROM pg_stat_replication"), "sync");
  }

  auto cfg = sh_test::storm_config(
      "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary.port()) + "," +
          std::to_string(standby.port()) +
          " user=postgres dbname=postgres target_session_attrs=read-write "
          "connect_timeout=2",
      60);
  cfg.retry.initial_delay = 20ms;
  cfg.retry.max_delay = 300ms;
  db::Database database{cfg};

  sh_test::Side on_primary(primary.conninfo());  // dies with the primary
  sh_test::Ledger ledger{on_primary};
  std::atomic<bool> stop{false}, failed_over{false};
  std::atomic<int> after{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int u = 0; !stop; ++u) {
        const std::string id =
            "f" + std::to_string(t) + "_" + std::to_string(u);
        const auto outcome = ledger.record(id, [&] {
          database.transact(
              [&](db::Session& s) { sh_test::Ledger::write(s, id, 3); });
        });
        if (outcome == sh_test::Ledger::Outcome::committed && failed_over) {
          ++after;
        }
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  std::this_thread::sleep_for(1s);
  primary.down();     // pg_ctl stop -m fast
  standby.promote();  // the standby takes over
  {
    // As a failover manager would: the new primary has no standby of its
    // own yet, so it must stop waiting for one (it inherited the setting).
    sh_test::Side s(standby.conninfo());
    s.exec("ALTER SYSTEM RESET synchronous_standby_names");
    s.exec("SELECT pg_reload_conf()");
  }
  failed_over = true;
  std::this_thread::sleep_for(1500ms);
  stop = true;
  for (auto& w : workers) w.join();

  EXPECT_GT(after.load(), 0) << "no work continued on the new primary";
  EXPECT_EQ(ledger.failed_count(), 0u);
  sh_test::Side now(standby.conninfo());
  ledger.check(&now);  // every acknowledged unit once on the new primary
  EXPECT_EQ(database.pool_stats().in_use, 0u);
  std::printf(
      "failover: %zu units committed (%d after the promotion), %d in doubt\n",
      ledger.committed_count(), after.load(),
      static_cast<int>(ledger.in_doubt_count()));
}
