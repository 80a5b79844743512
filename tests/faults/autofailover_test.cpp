// Automatic failover on a real pg_auto_failover formation (a monitor and two
// data nodes, started by tests/support/autofailover-formation as a CTest
// fixture). The library is given only the formation's multi-host URI
// (target_session_attrs=read-write). A workload of ledger units, each also
// enqueueing a job, runs while Worker threads drain the jobs; meanwhile the
// formation does a planned switchover, then loses its primary to SIGKILL and
// promotes the secondary on its own. Proven: no committed unit lost or
// doubled, every CommitInDoubt resolved against the ledger, every job done
// exactly once, none lost; the window from the kill to the first unit
// committed on the new primary is measured and printed.
//
// SOUNDHASH_AF_KILLS=N (default 1) kills N times, reviving the lost node in
// between (bench/run-failover uses it for its five measurements).
#include <spdlog/logger.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "ledger.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/migrations.hpp"
#include "soundhash/db/worker.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Runs the formation script; returns its stdout.
std::string formation_all(const std::string& cmd, const std::string& arg = {}) {
  const std::string line = env_or("SOUNDHASH_AF_SCRIPT", "") + " " + cmd + " " +
                           env_or("SOUNDHASH_AF_STATE", "") + " " + arg;
  FILE* p = popen(line.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + line);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) throw std::runtime_error("failed: " + line);
  return out;
}

// The first line of the formation script's stdout.
std::string formation(const std::string& cmd, const std::string& arg = {}) {
  const std::string out = formation_all(cmd, arg);
  return out.substr(0, out.find('\n'));
}

// Counts the transient failures the library retried, by SQLSTATE ("" for a
// connection lost without the server's word).
struct RetryCounter : db::Observer {
  void on_retry(const db::RetryEvent& e) noexcept override {
    const std::lock_guard lock(m);
    ++by_state[e.sqlstate.empty() ? "(connection)" : std::string(e.sqlstate)];
    longest = std::max(longest, e.attempt);
  }
  std::mutex m;
  std::map<std::string, long> by_state;
  long long longest = 0;
};

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

TEST(AutoFailover, KillAndSwitchoverLoseNothing) {
  const std::string uri = read_line(env_or("SOUNDHASH_AF_STATE", "") + "/uri");
  ASSERT_NE(uri.find("target_session_attrs=read-write"), std::string::npos)
      << "no formation URI in SOUNDHASH_AF_STATE: " << uri;
  const int kills = std::stoi(env_or("SOUNDHASH_AF_KILLS", "1"));
  // Every job's creation is logged at INFO; the retries (WARN) are the story.
  db::logger().set_level(spdlog::level::warn);

  // The retry budget must outlast a failover: at most about 19 s of backoff
  // here (50 ms doubling to 500 ms, 40 retries, jitter 0.5) against windows
  // of 5-10 s (docs/scaling.md).
  db::Config cfg;
  // The formation's URI names no user: the application adds its own.
  const std::string conninfo = uri + "&user=postgres&connect_timeout=2";
  cfg.conninfo = conninfo;
  cfg.pool_size = 8;
  cfg.acquire_timeout = 30s;
  cfg.retry.max_retries = 40;
  cfg.retry.initial_delay = 50ms;
  cfg.retry.max_delay = 500ms;
  cfg.retry.jitter = 0.5;
  auto retries = std::make_shared<RetryCounter>();
  cfg.observer = retries;
  db::Database database{cfg};
  db::migrate(database);

  sh_test::Side setup(conninfo);
  // Commits wait for the secondary (pg_auto_failover's default with one
  // standby and replication quorum): what is acknowledged survives a kill.
  EXPECT_NE(setup.value("SHOW synchronous_standby_names"), "");
  setup.exec(
      "CREATE TABLE IF NOT EXISTS job_effects (job_id bigint NOT NULL, "
      "worker text NOT NULL)");
  sh_test::Ledger ledger{setup};
  // The ledger's checks look units' rows up by unit: a long run has many.
  setup.exec("CREATE INDEX IF NOT EXISTS unit_rows_unit ON unit_rows (unit)");

  db::WorkerOptions wopt;
  wopt.threads = 2;
  wopt.name = "af";
  wopt.poll = 200ms;
  wopt.heartbeat_every = 300ms;
  wopt.stale_after = 3s;
  wopt.rescue_every = 500ms;
  // A job a kill strands is rescued after stale_after and then waits its
  // backoff; the default (10 s doubling, full jitter) could leave a job
  // rescued in two kills waiting up to 40 s, longer than the drain below.
  wopt.backoff = {.initial = 200ms, .max = 2s, .jitter = 1.0};
  db::Worker worker{database, wopt};
  worker.on("af_job", [](db::JobContext& job) {
    job.database().transact([&](db::Session& s) {
      s.execute("INSERT INTO job_effects VALUES ($1, $2)", job.job().id,
                job.worker_id());
      job.complete_in(s);
    });
  });
  worker.start();

  // Per unit: where it committed and when it returned.
  std::atomic<bool> stop{false};
  std::mutex m;
  Clock::time_point event_at{};  // the last kill or switchover
  int old_port = 0;
  std::optional<Clock::time_point> first_new;  // first commit elsewhere
  Clock::duration longest_unit{};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int u = 0; !stop; ++u) {
        const std::string id =
            "af" + std::to_string(t) + "_" + std::to_string(u);
        int port = 0;
        const auto began = Clock::now();  // for the longest unit
        const auto outcome = ledger.record(id, [&] {
          database.transact([&](db::Session& s) {
            sh_test::Ledger::write(s, id, 2);
            db::JobRepository{s}.create_job("af_job", id);
            port = s.execute("SELECT inet_server_port()").as<int>();
          });
        });
        const auto now = Clock::now();
        {
          const std::lock_guard lock(m);
          longest_unit = std::max(longest_unit, now - began);
          if (outcome == sh_test::Ledger::Outcome::committed &&
              event_at != Clock::time_point{} && now >= event_at &&
              port != old_port && !first_new) {
            first_new = now;
          }
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  // From now on, notes the first unit committed on another node than
  // `port` (the primary about to be lost).
  auto arm = [&](int port) {
    const std::lock_guard lock(m);
    event_at = Clock::now();
    old_port = port;
    first_new.reset();
    return event_at;
  };
  // Waits for that unit; returns the window from `at` in seconds.
  auto window_after = [&](Clock::time_point at) {
    const auto deadline = at + 120s;
    while (Clock::now() < deadline) {
      {
        const std::lock_guard lock(m);
        if (first_new) return seconds(*first_new - at);
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no unit committed on the new primary within 120 s";
    return -1.0;
  };
  auto port_of_primary = [&] {
    const std::string name = formation("primary");
    std::istringstream in(formation_all("state"));
    std::string n, reported, goal;
    int port = 0;
    while (in >> n >> reported >> goal >> port) {
      if (n == name) return port;
    }
    return 0;
  };

  std::this_thread::sleep_for(1500ms);
  const auto switch_at = arm(port_of_primary());
  formation("switchover");
  const double switch_window = window_after(switch_at);
  std::printf("switchover: first commit on the new primary after %.2f s\n",
              switch_window);

  std::vector<double> windows;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(1s);
    const auto killed_at = arm(port_of_primary());
    std::istringstream killed(formation("kill"));
    std::string name;
    int port = 0;
    killed >> name >> port;
    const double w = window_after(killed_at);
    windows.push_back(w);
    std::printf(
        "kill %d: %s (port %d) SIGKILLed; first commit on the new "
        "primary after %.2f s\n",
        k + 1, name.c_str(), port, w);
    std::fflush(stdout);
    if (k + 1 < kills) formation("revive", name);
  }
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& c : clients) c.join();

  // Let the workers finish what is left (jobs a dead claim held come back
  // through the rescue after stale_after).
  sh_test::Side check(conninfo);
  const auto drain_deadline = Clock::now() + 60s;
  while (check.count("SELECT count(*) FROM processing_jobs WHERE job_type = "
                     "'af_job' AND status <> 'completed'") > 0 &&
         Clock::now() < drain_deadline) {
    std::this_thread::sleep_for(100ms);
  }
  if (Clock::now() >= drain_deadline) {
    // What is left, and why it is not being claimed.
    std::printf("drain unfinished after 60 s:\n%s\n",
                check
                    .value("SELECT coalesce(string_agg(format('job %s %s "
                           "attempts %s retries %s run_at in %s locked_by %s "
                           "heartbeat %s ago', id, status, attempts, "
                           "retry_count, run_at - now(), locked_by, now() - "
                           "heartbeat_at), E'\\n' ORDER BY id), '') FROM "
                           "processing_jobs WHERE job_type = 'af_job' AND "
                           "status <> 'completed'")
                    .c_str());
    std::fflush(stdout);
  }
  if (Clock::now() >= drain_deadline && std::getenv("SOUNDHASH_AF_HOLD")) {
    std::printf("drain stalled; holding 300 s for a debugger (pid %d)\n",
                static_cast<int>(::getpid()));
    std::fflush(stdout);
    std::this_thread::sleep_for(300s);
  }
  worker.stop();
  const auto stats = worker.stats();

  // Units: none lost, none doubled, every CommitInDoubt resolved.
  ledger.check(&check);
  EXPECT_EQ(ledger.failed_count(), 0u);
  // Ledger keeps its in-doubt ids private; resolve them from the database:
  // a unit is there whole or not at all (checked above), so each in-doubt
  // unit is either committed (present) or not (absent) and nothing else.
  const long present =
      static_cast<long>(check.count("SELECT count(*) FROM units"));
  const long doubt_committed =
      present - static_cast<long>(ledger.committed_count());
  EXPECT_GE(doubt_committed, 0);
  EXPECT_LE(doubt_committed, static_cast<long>(ledger.in_doubt_count()));

  // Jobs: one per committed unit (same transaction), all completed, each
  // with exactly one effect.
  EXPECT_EQ(check.count("SELECT count(*) FROM processing_jobs WHERE job_type "
                        "= 'af_job'"),
            present);
  EXPECT_EQ(check.count("SELECT count(*) FROM units u WHERE NOT EXISTS "
                        "(SELECT 1 FROM processing_jobs j WHERE j.job_type = "
                        "'af_job' AND j.target_id = u.id)"),
            0)
      << "a committed unit's job is lost";
  EXPECT_EQ(check.count("SELECT count(*) FROM processing_jobs WHERE job_type "
                        "= 'af_job' AND status <> 'completed'"),
            0)
      << "jobs left unfinished";
  EXPECT_EQ(check.count("SELECT count(*) FROM processing_jobs j WHERE "
                        "job_type = 'af_job' AND (SELECT count(*) FROM "
                        "job_effects e WHERE e.job_id = j.id) <> 1"),
            0)
      << "a job done twice, or completed without its effect";

  std::map<std::string, long> by_state;
  long long longest_attempt = 0;
  {
    const std::lock_guard lock(retries->m);
    by_state = retries->by_state;
    longest_attempt = retries->longest;
  }
  std::string retried;
  for (const auto& [state, n] : by_state) {
    retried += " " + state + "=" + std::to_string(n);
  }
  std::printf(
      "autofailover: %zu units committed, %zu in doubt (%ld of them "
      "committed), 0 lost, 0 doubled; %lld jobs done by %lld completions "
      "(%lld lost to rescue, %lld failed attempts); longest unit %.2f s, "
      "most retries of one operation %lld; retried by SQLSTATE:%s\n",
      ledger.committed_count(), ledger.in_doubt_count(), doubt_committed,
      check.count("SELECT count(*) FROM job_effects"),
      static_cast<long long>(stats.completed),
      static_cast<long long>(stats.lost), static_cast<long long>(stats.failed),
      seconds(longest_unit), longest_attempt, retried.c_str());
  std::sort(windows.begin(), windows.end());
  if (!windows.empty()) {
    std::printf("failover window over %zu kill(s): median %.2f s, max %.2f s\n",
                windows.size(), windows[windows.size() / 2], windows.back());
  }
}
