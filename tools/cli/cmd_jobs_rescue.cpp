// `soundhash-db jobs rescue --older-than SECONDS`: give running jobs whose
// worker stopped heartbeating back to the queue.

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::cli {
namespace {

// A year: far beyond any heartbeat interval, near enough to catch a typo.
constexpr std::int64_t kMaxOlderThanSeconds = 366LL * 24 * 3600;

constexpr OptionSpec kOptions[] = {
    {"--older-than", "", "SECONDS",
     "rescue running jobs with no heartbeat for SECONDS (required)"},
};

int run_jobs_rescue(const Invocation& inv) {
  const auto older_than_arg = inv.args.value("--older-than");
  if (!older_than_arg) throw UsageError("missing --older-than SECONDS");
  const std::chrono::seconds older_than{
      parse_integer(*older_than_arg, "--older-than", 1, kMaxOlderThanSeconds)};

  db::Database database{inv.context.effective};
  // One statement: a job is rescued by exactly one caller, even with workers
  // (or other `jobs rescue`) rescuing at the same moment.
  const std::vector<db::ProcessingJob> rescued = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      // An operator acting: runnable at once, no backoff (a Worker's own
      // rescues wait out its backoff).
      return db::JobRepository{s}.rescue_stale_jobs(
          older_than, db::JobBackoff{.initial = std::chrono::milliseconds{0},
                                     .max = std::chrono::milliseconds{0}});
    });
  });
  if (rescued.empty()) {
    fmt::print("no stale jobs\n");
    return kExitOk;
  }
  Table t({"id", "type", "target", "status", "retries"},
          {true, false, false, false, true});
  for (const auto& j : rescued) {
    t.add_row({std::to_string(j.id), j.job_type, j.target_id, j.status,
               fmt::format("{}/{}", j.retry_count, j.max_retries)});
  }
  t.print(stdout);
  return kExitOk;
}

}  // namespace

const Command& jobs_rescue_command() {
  static const Command kCommand{
      .name = "jobs rescue",
      .synopsis = "--older-than SECONDS",
      .summary = "requeue running jobs whose worker stopped heartbeating",
      .description =
          "Moves running jobs whose last heartbeat (or start) is more than\n"
          "SECONDS old back to pending, runnable at once, with one more\n"
          "retry counted; a job that has used all its retries ends failed\n"
          "instead. Their worker died or hung: if it comes back, its next "
          "call\n"
          "for the job is refused. Prints the rescued jobs (id, type, target,\n"
          "new status, retries used of allowed) or \"no stale jobs\"; both\n"
          "exit 0. Safe to run while workers rescue too: each job is rescued\n"
          "once.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_jobs_rescue,
  };
  return kCommand;
}

}  // namespace soundhash::cli
