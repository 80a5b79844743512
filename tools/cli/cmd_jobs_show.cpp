// `soundhash-db jobs show ID`: one job, field by field, and its error history.

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"

namespace soundhash::cli {
namespace {

std::string or_dash(const std::optional<std::string>& s) {
  return s ? printable(one_line(*s)) : "-";
}

std::string or_dash(const std::optional<db::Timestamp>& t) {
  return t ? iso8601_utc(*t) : "-";
}

// Exact: whole seconds as such, anything else in milliseconds.
std::string timeout_text(const std::optional<std::int64_t>& ms) {
  if (!ms) return "-";
  if (*ms % 1000 == 0) return fmt::format("{} s", *ms / 1000);
  return fmt::format("{} ms", *ms);
}

void print_job(const db::ProcessingJob& j) {
  const std::pair<std::string_view, std::string> fields[] = {
      {"id", std::to_string(j.id)},
      {"type", printable(j.job_type)},
      {"target", printable(j.target_id)},
      {"status", printable(j.status)},
      {"progress", fmt::format("{:.1f}%", j.progress)},
      {"current_step", or_dash(j.current_step)},
      {"parameters", or_dash(j.parameters)},
      {"priority", std::to_string(j.priority)},
      {"timeout", timeout_text(j.timeout_ms)},
      {"key", or_dash(j.concurrency_key)},
      {"attempts", std::to_string(j.attempts)},
      {"retries", fmt::format("{} of {}", j.retry_count, j.max_retries)},
      {"created_at", iso8601_utc(j.created_at)},
      {"run_at", iso8601_utc(j.run_at)},
      {"started_at", or_dash(j.started_at)},
      {"heartbeat_at", or_dash(j.heartbeat_at)},
      {"completed_at", or_dash(j.completed_at)},
      {"locked_by", or_dash(j.locked_by)},
      {"error_message", or_dash(j.error_message)},
  };
  for (const auto& [name, value] : fields) {
    fmt::print("{:<14}{}\n", name, value);
  }
}

int run_jobs_show(const Invocation& inv) {
  const std::int64_t id =
      parse_integer(inv.args.positionals[0], "ID", 1,
                    std::numeric_limits<std::int64_t>::max());
  db::Database database{inv.context.effective};
  // Both reads in one unit: the history belongs to the job printed.
  auto [job, errors] = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      db::JobRepository jobs{s};
      auto j = jobs.get_job(id);
      std::vector<db::JobAttemptError> e;
      if (j) e = jobs.get_job_errors(id);
      return std::pair{std::move(j), std::move(e)};
    });
  });
  if (!job) throw Failure(fmt::format("job {} does not exist", id));
  print_job(*job);
  fmt::print("\n");
  if (errors.empty()) {
    fmt::print("no failed attempts recorded\n");
    return kExitOk;
  }
  fmt::print("failed attempts (oldest first, the last 20 kept):\n");
  Table t({"attempt", "at", "worker", "error"}, {true, false, false, false});
  for (const auto& e : errors) {
    t.add_row({std::to_string(e.attempt), iso8601_utc(e.at),
               e.worker.value_or("-"), one_line(e.message)});
  }
  t.print(stdout);
  return kExitOk;
}

}  // namespace

const Command& jobs_show_command() {
  static const Command kCommand{
      .name = "jobs show",
      .synopsis = "ID",
      .summary = "print one job and its history of failed attempts",
      .description =
          "Prints job ID field by field (times in ISO 8601, UTC; \"-\" where\n"
          "a field is empty), then its failed attempts, oldest first: the\n"
          "attempt number, when it failed, the worker that ran it, and the\n"
          "error (what the handler threw, a timeout, or a rescue after missed\n"
          "heartbeats). The job keeps its last 20. Exit 1 if the job does\n"
          "not exist.",
      .options = {},
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_jobs_show,
  };
  return kCommand;
}

}  // namespace soundhash::cli
