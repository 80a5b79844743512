// `soundhash-db status`: where we are connected, what schema the database
// has, the pool settings, and how many jobs are in each status.

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/connection.hpp"
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

// The queue's lag: "none", an age, or "-" before the work-queue migration.
std::string oldest_runnable(db::Database& database) {
  try {
    const auto wait = database.transact([](db::Session& s) {
      return db::JobRepository{s}.oldest_runnable_wait();
    });
    return wait ? age(static_cast<double>(wait->count()) / 1000) : "none";
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

void row(std::string_view key, std::string_view value) {
  fmt::print("  {:<20} {}\n", key, printable(value));
}

int run_status(const Invocation& inv) {
  db::Database database{inv.context.effective};
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
  row("conninfo", cfg.conninfo.empty()
                      ? "(empty: libpq's PG* defaults)"
                      : db::detail::redact_conninfo(cfg.conninfo));
  row("version", server.version);

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
      .synopsis = "",
      .summary = "show the server, schema version, pool settings, job counts",
      .description =
          "Shows the server reached (host, port, database, user as the\n"
          "server reports them, the connection string with any password\n"
          "redacted, the server version), the schema version, the pool\n"
          "settings from the environment, the number of jobs in each\n"
          "status, and how long the longest-waiting runnable job has been\n"
          "runnable (the queue's lag; \"none\" when no job is runnable). On\n"
          "a database that is not migrated yet it says so instead of\n"
          "failing.",
      .options = {},
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_status,
  };
  return kCommand;
}

}  // namespace soundhash::cli
