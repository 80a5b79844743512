// `soundhash-db jobs list`: the newest jobs, optionally filtered.

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::cli {
namespace {

constexpr std::int64_t kDefaultLimit = 20;
constexpr std::int64_t kMaxLimit = 1'000'000;

// Filters are bound parameters; a NULL one matches everything. The heartbeat
// age is measured on the server's clock, from the same instant
// rescue_stale_jobs measures it from. The statement runs once, so the server
// plans it for the values given: with --status pending or running, the two
// always-true conditions after the status filter then state the predicate
// of the index of pending or of running jobs (migration 7), and the listing
// can read those jobs alone instead of the table's history.
constexpr std::string_view kListSql =
    "SELECT id, job_type, target_id, status, progress, created_at, attempts, "
    "locked_by, run_at, extract(epoch FROM now() - coalesce(heartbeat_at, "
    "started_at, created_at))::float8 "
    "FROM processing_jobs "
    "WHERE ($1::text IS NULL OR status = $1::text) "
    "AND ($1::text IS DISTINCT FROM 'pending' OR (job_type IS NOT NULL AND "
    "run_at IS NOT NULL)) "
    "AND ($1::text IS DISTINCT FROM 'running' OR coalesce(heartbeat_at, "
    "started_at, created_at) IS NOT NULL) "
    "AND ($2::text IS NULL OR job_type = $2::text) "
    "AND ($4::text IS NULL OR locked_by = $4::text) "
    "ORDER BY id DESC LIMIT $3";

constexpr OptionSpec kOptions[] = {
    {"--status", "", "S",
     "only jobs in status S (pending, running, completed, failed, "
     "cancelled)"},
    {"--type", "", "T", "only jobs of type T"},
    {"--owner", "", "W",
     "only jobs claimed last by worker W (what it holds, with --status "
     "running)"},
    {"--limit", "", "N", "at most N jobs (default 20)"},
};

std::optional<std::string> status_filter(const ParsedArgs& args) {
  auto status = args.value("--status");
  if (status && !db::job_status::is_valid(*status)) {
    throw UsageError(fmt::format(
        "--status: '{}' is not a job status (pending, running, completed, "
        "failed, cancelled)",
        printable(*status)));
  }
  return status;
}

int run_jobs_list(const Invocation& inv) {
  const auto status = status_filter(inv.args);
  const auto type = inv.args.value("--type");
  const auto owner = inv.args.value("--owner");
  const auto limit_arg = inv.args.value("--limit");
  const std::int64_t limit =
      limit_arg ? parse_integer(*limit_arg, "--limit", 1, kMaxLimit)
                : kDefaultLimit;

  db::Database database{inv.context.effective};
  const Table table = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      // Built inside the unit: a retried unit starts from an empty table.
      // New columns go after the old ones, so scripts reading columns 1-6
      // keep working; an empty cell is "-" so that every row has them all.
      Table t(
          {"id", "type", "target", "status", "progress", "created_at",
           "attempts", "locked_by", "run_at", "heartbeat_age"},
          {true, false, false, false, true, false, true, false, false, true});
      for (const auto& r : s.read(kListSql, status, type, limit, owner)) {
        const auto job_status = r[3].as<std::string>();
        t.add_row({std::to_string(r[0].as<std::int64_t>()),
                   r[1].as<std::string>(), r[2].as<std::string>(), job_status,
                   fmt::format("{:.1f}%", r[4].as<double>()),
                   iso8601_utc(r[5].as<db::Timestamp>()),
                   std::to_string(r[6].as<std::int64_t>()),
                   r[7].as<std::optional<std::string>>().value_or("-"),
                   job_status == db::job_status::pending
                       ? iso8601_utc(r[8].as<db::Timestamp>())
                       : "-",
                   job_status == db::job_status::running
                       ? age(r[9].as<double>())
                       : "-"});
      }
      return t;
    });
  });
  if (table.empty()) {
    fmt::print("no jobs\n");
  } else {
    table.print(stdout);
  }
  return kExitOk;
}

}  // namespace

const Command& jobs_list_command() {
  static const Command kCommand{
      .name = "jobs list",
      .synopsis = "[--status S] [--type T] [--owner W] [--limit N]",
      .summary = "list jobs, newest first",
      .description =
          "Lists processing jobs, newest first: id, type, target, status,\n"
          "progress, creation time (ISO 8601, UTC), attempts (how often a\n"
          "worker claimed it), locked_by (the worker that claimed it last),\n"
          "run_at (pending jobs: not claimed before then) and heartbeat_age\n"
          "(running jobs: time since the worker's last heartbeat). A cell\n"
          "that does not apply is \"-\". Prints \"no jobs\" when none match.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_jobs_list,
  };
  return kCommand;
}

}  // namespace soundhash::cli
