// `soundhash-db doctor`: can we connect, how fast is a round trip, and are
// the server settings the library's behaviour depends on sensible.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "soundhash/db/database.hpp"

namespace soundhash::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPings = 20;

// Shown in this order; superuser_reserved_connections is only used to judge
// max_connections against the pool size.
const std::vector<std::string> kSettings = {
    "server_version",
    "max_connections",
    "lock_timeout",
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "deadlock_timeout",
    "default_transaction_isolation",
    "superuser_reserved_connections",
};

struct Findings {
  Clock::duration connect{};
  std::vector<Clock::duration> round_trips;
  std::map<std::string, std::string> settings;
  bool ssl = false;
  bool tcp = false;  // false: unix socket
  bool loopback = false;
  // Creators that take no lock row (SoundHash's Python layer) can make a
  // second active job for one (type, target) unless the optional unique
  // index is installed (docs/guide/migration.md, "Racing creators").
  bool has_jobs = false;
  std::optional<bool> one_active_index_valid;  // absent: not installed
  std::int64_t duplicate_keys = 0;
  // The configured standbys (Config::replica_conninfo), looked at now.
  std::vector<db::ReplicaStatus> replicas;
};

Findings examine(db::Database& database) {
  Findings f;
  // Its own session, not transact: a connection failure should be reported
  // as it is, not retried.
  auto s = database.session();
  const auto t0 = Clock::now();
  (void)s.backend_pid();  // takes a connection from the (empty) pool
  f.connect = Clock::now() - t0;

  s.read("SELECT 1");  // warm-up: the first one also prepares the statement
  for (int i = 0; i < kPings; ++i) {
    const auto t = Clock::now();
    s.read("SELECT 1");
    f.round_trips.push_back(Clock::now() - t);
  }
  for (const auto& r :
       s.read("SELECT name, current_setting(name) FROM unnest($1::text[]) "
              "AS name",
              kSettings)) {
    f.settings[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  if (auto r = s.read("SELECT ssl FROM pg_stat_ssl WHERE pid = "
                      "pg_backend_pid()")
                   .first()) {
    f.ssl = (*r)[0].as<bool>();
  }
  const auto where = s.read(
                          "SELECT inet_server_addr() IS NOT NULL, "
                          "coalesce(host(inet_server_addr()) IN "
                          "('127.0.0.1', '::1'), false)")
                         .one();
  f.tcp = where[0].as<bool>();
  f.loopback = where[1].as<bool>();
  f.has_jobs =
      s.read("SELECT to_regclass('processing_jobs') IS NOT NULL").as<bool>();
  if (f.has_jobs) {
    f.one_active_index_valid =
        s.read(
             "SELECT indisvalid FROM pg_index WHERE indexrelid = "
             "to_regclass('processing_jobs_one_active_idx')")
            .optional<bool>();
    f.duplicate_keys =
        s.read(
             "SELECT count(*) FROM (SELECT 1 FROM processing_jobs"
             " WHERE status IN ('pending', 'running')"
             " GROUP BY job_type, target_id HAVING count(*) > 1) d")
            .as<std::int64_t>();
  }
  return f;
}

std::vector<std::string> warnings(const Findings& f, const db::Config& cfg) {
  std::vector<std::string> w;
  auto setting = [&](const std::string& name) {
    auto it = f.settings.find(name);
    return it == f.settings.end() ? std::string() : it->second;
  };
  if (setting("lock_timeout") == "0") {
    w.push_back(
        "lock_timeout is 0: a statement blocked on a lock waits forever "
        "(a few seconds turns a stuck lock into a retryable "
        "LockNotAvailableError)");
  }
  if (setting("statement_timeout") == "0") {
    w.push_back(
        "statement_timeout is 0: a runaway statement is never "
        "cancelled");
  }
  if (setting("idle_in_transaction_session_timeout") == "0") {
    w.push_back(
        "idle_in_transaction_session_timeout is 0: a client that stalls "
        "inside a transaction holds its locks until it disconnects");
  }
  try {
    const long max = std::stol(setting("max_connections"));
    const long reserved = std::stol(setting("superuser_reserved_connections"));
    if (static_cast<long>(cfg.pool_size) > max - reserved) {
      w.push_back(fmt::format(
          "pool_size {} exceeds the {} connections the server allows "
          "(max_connections {} minus {} reserved)",
          cfg.pool_size, max - reserved, max, reserved));
    }
  } catch (const std::exception&) {
    // Not numbers: nothing to compare.
  }
  if (f.duplicate_keys > 0) {
    w.push_back(fmt::format(
        "{} (job type, target) keys have more than one pending or running "
        "job: a creator without the lock row raced (docs/guide/migration.md, "
        "\"Racing creators\")",
        f.duplicate_keys));
  }
  if (f.one_active_index_valid == false) {
    w.push_back(
        "processing_jobs_one_active_idx is invalid (its CREATE INDEX "
        "CONCURRENTLY failed, usually on duplicates): drop it, resolve the "
        "duplicates, create it again");
  }
  if (!f.replicas.empty()) {
    const bool any_standby =
        std::any_of(f.replicas.begin(), f.replicas.end(),
                    [](const auto& r) { return r.reachable && r.standby; });
    if (!any_standby) {
      w.push_back(
          "replicas are configured (SOUNDHASH_DB_REPLICA_URL) but none is a "
          "reachable standby: read sessions all run on the primary");
    }
    for (const auto& r : f.replicas) {
      if (!r.reachable) {
        w.push_back(
            fmt::format("replica {} is unreachable: {}", r.server, r.error));
      } else if (!r.standby) {
        w.push_back(fmt::format(
            "replica {} is not a standby (promoted?): read sessions skip it",
            r.server));
      } else if (cfg.replica_max_lag && r.lag &&
                 *r.lag > *cfg.replica_max_lag) {
        w.push_back(fmt::format(
            "replica {} lags {} ms, over replica_max_lag {} ms: bounded read "
            "sessions skip it",
            r.server, r.lag->count(), cfg.replica_max_lag->count()));
      }
    }
  }
  if (f.tcp && !f.loopback && !f.ssl) {
    w.push_back("the connection is not encrypted (add sslmode=require)");
  }
  return w;
}

int run_doctor(const Invocation& inv) {
  db::Database database{inv.context.effective};
  Findings f = examine(database);
  f.replicas = look_at_replicas(inv.context.effective);

  std::sort(f.round_trips.begin(), f.round_trips.end());
  const auto median = f.round_trips[f.round_trips.size() / 2];
  fmt::print("connect      ok in {:.1f} ms\n",
             std::chrono::duration<double, std::milli>(f.connect).count());
  fmt::print("round trip   min {}, median {}, max {} ({} x SELECT 1)\n",
             micros(f.round_trips.front()), micros(median),
             micros(f.round_trips.back()), kPings);
  fmt::print(
      "ssl          {}\n",
      f.ssl ? "in use" : (f.tcp ? "not in use" : "not in use (unix socket)"));
  if (f.has_jobs) {
    fmt::print("active jobs  {}\n",
               f.one_active_index_valid.value_or(false)
                   ? "one per (type, target), enforced by "
                     "processing_jobs_one_active_idx"
                   : "one per (type, target) for creators that take the lock "
                     "row only (no unique index)");
  }
  for (const auto& r : f.replicas) {
    fmt::print("replica      {} {}\n", r.server,
               !r.reachable ? "unreachable"
               : r.standby
                   ? fmt::format("standby, lag {}",
                                 r.lag ? fmt::format("{} ms", r.lag->count())
                                       : std::string("unknown"))
                   : std::string("not a standby"));
  }
  fmt::print("settings\n");
  for (const auto& name : kSettings) {
    if (name == "superuser_reserved_connections") continue;
    fmt::print("  {:<36} {}\n", name, printable(f.settings[name]));
  }
  const auto found = warnings(f, inv.context.configured);
  if (found.empty()) {
    fmt::print("no warnings\n");
  } else {
    fmt::print("warnings\n");
    for (const auto& w : found) fmt::print("  - {}\n", w);
  }
  return kExitOk;
}

}  // namespace

const Command& doctor_command() {
  static const Command kCommand{
      .name = "doctor",
      .synopsis = "",
      .summary = "check connectivity, latency and server settings",
      .description =
          "Connects (and reports how long that took), measures the round\n"
          "trip of 20 'SELECT 1' reads (min/median/max), shows the server\n"
          "settings the library's behaviour depends on and whether SSL is in\n"
          "use, and warns about risky ones (lock_timeout or\n"
          "statement_timeout 0, ...). With standbys configured\n"
          "(SOUNDHASH_DB_REPLICA_URL) it shows each and warns when none is\n"
          "a reachable standby or one lags past "
          "SOUNDHASH_DB_REPLICA_MAX_LAG_MS.\n"
          "Exits 0 when it could check (warnings\n"
          "included) and 3 when it cannot connect.",
      .options = {},
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_doctor,
  };
  return kCommand;
}

}  // namespace soundhash::cli
