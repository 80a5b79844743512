// `soundhash-db status`: where we are connected, what schema the database
// has, the pool settings, and how many jobs are in each status.

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "json_output.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/migrations.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::cli {
namespace {

struct ServerInfo {
  std::string host;
  int port = 0;
  std::string database;
  std::string user;
  std::string version;
  bool in_recovery = false;
};

// Asked of the server rather than read from the conninfo, so it shows what
// we actually reached (after libpq's PG* defaults, multiple hosts, ...).
ServerInfo server_info(db::Database& database) {
  return database.transact([](db::Session& s) {
    ServerInfo info;
    const auto row = s.read(
                          "SELECT current_database(), current_user, "
                          "host(inet_server_addr()), "
                          "coalesce(inet_server_port(), "
                          "current_setting('port')::int), "
                          "current_setting('unix_socket_directories')")
                         .one();
    info.database = row[0].as<std::string>();
    info.user = row[1].as<std::string>();
    // No server address: we came in over a unix socket.
    auto addr = row[2].as<std::optional<std::string>>();
    info.host = addr
                    ? *addr
                    : fmt::format("{} (unix socket)", row[4].as<std::string>());
    info.port = row[3].as<int>();
    info.version = s.read("SHOW server_version").as<std::string>();
    info.in_recovery = s.read("SELECT pg_is_in_recovery()").as<bool>();
    return info;
  });
}

// Counts per status, or nullopt when there is no processing_jobs table yet.
std::optional<std::map<std::string, std::int64_t>> job_counts(
    db::Database& database, int schema_version) {
  if (schema_version == 0) return std::nullopt;
  try {
    return database.transact([](db::Session& s) {
      return db::JobRepository{s}.count_jobs_by_status();
    });
  } catch (const db::ProgrammingError& e) {
    if (e.sqlstate() == "42P01") return std::nullopt;  // undefined_table
    throw;
  }
}

// The queue's lag in seconds: nullopt when no job is runnable; throws
// ProgrammingError 42703 before the work-queue migration.
std::optional<double> oldest_runnable_seconds(db::Database& database) {
  const auto wait = database.transact([](db::Session& s) {
    return db::JobRepository{s}.oldest_runnable_wait();
  });
  if (!wait) return std::nullopt;
  return static_cast<double>(wait->count()) / 1000;
}

// The queue's lag: "none", an age, or "-" before the work-queue migration.
std::string oldest_runnable(db::Database& database) {
  try {
    const auto wait = oldest_runnable_seconds(database);
    return wait ? age(*wait) : "none";
  } catch (const db::ProgrammingError& e) {
    if (e.sqlstate() == "42703") return "-";  // undefined_column: run_at
    throw;
  }
}

std::string schema_line(int version) {
  const auto all = db::migrations();
  const int latest = all.empty() ? 0 : all.back().version;
  if (version == 0) {
    return "0 (not migrated: run 'soundhash-db migrate')";
  }
  if (version < latest) {
    return fmt::format("{} of {} (run 'soundhash-db migrate')", version,
                       latest);
  }
  if (version > latest) {
    return fmt::format("{} (newer than this tool's {})", version, latest);
  }
  return fmt::format("{} (up to date)", version);
}

std::string replica_line(const db::ReplicaStatus& r) {
  if (!r.reachable) return "unreachable: " + r.error;
  return fmt::format(
      "{}, lag {}, replayed {}", r.standby ? "standby" : "NOT a standby",
      r.lag ? fmt::format("{} ms", r.lag->count()) : std::string("unknown"),
      r.replayed.to_string());
}

Json replicas_json(const std::vector<db::ReplicaStatus>& all) {
  Json out = Json::array();
  for (const auto& r : all) {
    Json j;
    j["server"] = r.server;
    j["reachable"] = r.reachable;
    j["role"] = !r.reachable ? Json() : Json(r.standby ? "standby" : "primary");
    j["lag_ms"] = r.lag ? Json(r.lag->count()) : Json();
    j["replayed"] = r.reachable ? Json(r.replayed.to_string()) : Json();
    j["error"] = r.error.empty() ? Json() : Json(r.error);
    out.push_back(std::move(j));
  }
  return out;
}

void row(std::string_view key, std::string_view value) {
  fmt::print("  {:<20} {}\n", key, printable(value));
}

constexpr OptionSpec kOptions[] = {
    {"--json", "", "", "print one JSON object (for scripts)"},
    {"--watch", "", "SECONDS",
     "refresh every SECONDS: jobs per type, and per second completed and "
     "failed"},
    {"--count", "", "N", "with --watch: stop after N refreshes"},
};

int print_json(db::Database& database, const Invocation& inv) {
  const ServerInfo server = server_info(database);
  const int version = db::schema_version(database);
  const auto counts = job_counts(database, version);
  const auto all = db::migrations();
  const db::Config& cfg = inv.context.configured;
  Json out;
  out["server"] = {
      {"host", server.host},
      {"port", server.port},
      {"database", server.database},
      {"user", server.user},
      {"conninfo", cfg.conninfo.empty() ? std::string()
                                        : db::redact_conninfo(cfg.conninfo)},
      {"version", server.version},
      {"role", server.in_recovery ? "standby" : "primary"},
  };
  out["replicas"] = replicas_json(look_at_replicas(inv.context.effective));
  out["schema"] = {{"version", version},
                   {"latest", all.empty() ? 0 : all.back().version}};
  out["pool"] = {
      {"pool_size", cfg.pool_size},
      {"acquire_timeout_ms", cfg.acquire_timeout.count()},
      {"ping_after_idle_ms", cfg.ping_after_idle.count()},
      {"prepared_statements", cfg.prepared_statements},
      {"retry",
       {{"max_retries", cfg.retry.max_retries},
        {"initial_delay_ms", cfg.retry.initial_delay.count()},
        {"max_delay_ms", cfg.retry.max_delay.count()},
        {"multiplier", json_number(cfg.retry.multiplier)},
        {"jitter", json_number(cfg.retry.jitter)}}},
  };
  out["jobs"] = nullptr;
  out["oldest_runnable_seconds"] = nullptr;
  if (counts) {
    std::int64_t total = 0;
    for (auto status : db::job_status::all) {
      auto it = counts->find(std::string(status));
      const std::int64_t n = it == counts->end() ? 0 : it->second;
      total += n;
      out["jobs"][std::string(status)] = n;
    }
    out["jobs"]["total"] = total;
    try {
      if (const auto wait = oldest_runnable_seconds(database)) {
        out["oldest_runnable_seconds"] = json_number(*wait);
      }
    } catch (const db::ProgrammingError& e) {
      if (e.sqlstate() != "42703") throw;
    }
  }
  print_json_line(stdout, out);
  return kExitOk;
}

// Per job type: live jobs, and those that finished in the last `window`.
// completed_at is set when a job completes and when it fails for good.
constexpr std::string_view kWatchSql =
    "SELECT job_type, "
    "count(*) FILTER (WHERE status = 'pending'), "
    "count(*) FILTER (WHERE status = 'running'), "
    "count(*) FILTER (WHERE status = 'completed' AND completed_at > "
    "now() - make_interval(secs => $1)), "
    "count(*) FILTER (WHERE status = 'failed' AND completed_at > "
    "now() - make_interval(secs => $1)) "
    "FROM processing_jobs "
    "WHERE status IN ('pending', 'running') "
    "OR completed_at > now() - make_interval(secs => $1) "
    "GROUP BY job_type ORDER BY job_type";

int watch(db::Database& database, std::int64_t seconds,
          std::optional<std::int64_t> count) {
  if (db::schema_version(database) == 0) {
    throw Failure("schema not migrated: run 'soundhash-db migrate'");
  }
  const auto every = std::chrono::seconds(seconds);
  auto next = std::chrono::steady_clock::now();
  for (std::int64_t n = 0; !count || n < *count; ++n) {
    if (n > 0) std::this_thread::sleep_until(next);
    next += every;
    const db::Result r = database.transact([&](db::Session& s) {
      return s.read(kWatchSql, static_cast<double>(seconds));
    });
    Table t({"type", "pending", "running", "completed/s", "failed/s"},
            {false, true, true, true, true});
    const double window = static_cast<double>(seconds);
    for (const auto& row : r) {
      t.add_row(
          {row[0].as<std::string>(), std::to_string(row[1].as<std::int64_t>()),
           std::to_string(row[2].as<std::int64_t>()),
           fmt::format("{:.2f}",
                       static_cast<double>(row[3].as<std::int64_t>()) / window),
           fmt::format(
               "{:.2f}",
               static_cast<double>(row[4].as<std::int64_t>()) / window)});
    }
    fmt::print("{} (rates over the last {}s)\n",
               iso8601_utc(std::chrono::system_clock::now()), seconds);
    if (t.empty()) {
      fmt::print("  no jobs\n");
    } else {
      t.print(stdout);
    }
    std::fflush(stdout);
  }
  return kExitOk;
}

int run_status(const Invocation& inv) {
  const auto watch_every = inv.args.value("--watch");
  const auto count = inv.args.value("--count");
  if (count && !watch_every) throw UsageError("--count needs --watch");
  if (watch_every && inv.args.flag("--json")) {
    throw UsageError("--json and --watch do not go together");
  }
  db::Database database{inv.context.effective};
  if (watch_every) {
    return watch(database, parse_integer(*watch_every, "--watch", 1, 86400),
                 count ? std::optional(
                             parse_integer(*count, "--count", 1, 1'000'000'000))
                       : std::nullopt);
  }
  if (inv.args.flag("--json")) return print_json(database, inv);
  const ServerInfo server = server_info(database);
  const int version = db::schema_version(database);
  const auto counts = job_counts(database, version);

  const db::Config& cfg = inv.context.configured;
  fmt::print("server\n");
  row("host", server.host);
  row("port", std::to_string(server.port));
  row("database", server.database);
  row("user", server.user);
  // Never the raw conninfo: it may carry a password.
  row("conninfo", cfg.conninfo.empty() ? "(empty: libpq's PG* defaults)"
                                       : db::redact_conninfo(cfg.conninfo));
  row("version", server.version);
  row("role", server.in_recovery ? "standby" : "primary");

  if (!cfg.replica_conninfo.empty()) {
    fmt::print("replicas\n");
    row("conninfo", db::redact_conninfo(cfg.replica_conninfo));
    for (const auto& r : look_at_replicas(inv.context.effective)) {
      row(r.server, replica_line(r));
    }
  }

  fmt::print("schema\n");
  row("version", schema_line(version));

  fmt::print("pool (configured)\n");
  row("pool_size", std::to_string(cfg.pool_size));
  row("acquire_timeout", fmt::format("{} ms", cfg.acquire_timeout.count()));
  row("ping_after_idle", fmt::format("{} ms", cfg.ping_after_idle.count()));
  row("prepared_statements", cfg.prepared_statements ? "on" : "off");
  row("retry",
      fmt::format("max_retries {}, initial_delay {} ms, max_delay "
                  "{} ms, multiplier {}, jitter {}",
                  cfg.retry.max_retries, cfg.retry.initial_delay.count(),
                  cfg.retry.max_delay.count(), cfg.retry.multiplier,
                  cfg.retry.jitter));

  fmt::print("jobs\n");
  if (!counts) {
    fmt::print("  schema not migrated: run 'soundhash-db migrate'\n");
    return kExitOk;
  }
  std::int64_t total = 0;
  for (auto status : db::job_status::all) {
    auto it = counts->find(std::string(status));
    const std::int64_t n = it == counts->end() ? 0 : it->second;
    total += n;
    row(status, std::to_string(n));
  }
  row("total", std::to_string(total));
  row("oldest runnable", oldest_runnable(database));
  return kExitOk;
}

}  // namespace

const Command& status_command() {
  static const Command kCommand{
      .name = "status",
      .synopsis = "[--json | --watch SECONDS [--count N]]",
      .summary = "show the server, schema version, pool settings, job counts",
      .description =
          "Shows the server reached (host, port, database, user as the\n"
          "server reports them, the connection string with any password\n"
          "redacted, the server version), the schema version, the pool\n"
          "settings from the environment, the number of jobs in each\n"
          "status, and how long the longest-waiting runnable job has been\n"
          "runnable (the queue's lag; \"none\" when no job is runnable). On\n"
          "a database that is not migrated yet it says so instead of\n"
          "failing. --json prints the same as one JSON object (jobs and\n"
          "oldest_runnable_seconds null before migration). --watch SECONDS\n"
          "refreshes every SECONDS, one table per refresh: per job type the\n"
          "pending and running jobs, and the jobs per second that completed\n"
          "or failed for good over the last SECONDS. With standbys\n"
          "configured (SOUNDHASH_DB_REPLICA_URL) it shows each: reachable,\n"
          "role, replication lag and replayed WAL position.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_status,
  };
  return kCommand;
}

}  // namespace soundhash::cli
