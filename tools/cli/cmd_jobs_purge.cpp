// `soundhash-db jobs purge --older-than SECONDS [--batch N]`: delete finished
// jobs past their retention, in bounded transactions.

#include <fmt/format.h>

#include <chrono>
#include <cstdint>

#include "cli.hpp"
#include "commands.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"

namespace soundhash::cli {
namespace {

// Ten years: any retention, and a typo of a few extra digits still caught.
constexpr std::int64_t kMaxOlderThanSeconds = 3660LL * 24 * 3600;
constexpr std::int64_t kMaxBatch = 1'000'000;

constexpr OptionSpec kOptions[] = {
    {"--older-than", "", "SECONDS",
     "delete jobs that finished more than SECONDS ago (required)"},
    {"--batch", "", "N", "jobs per transaction (default 10000)"},
};

int run_jobs_purge(const Invocation& inv) {
  const auto older_than_arg = inv.args.value("--older-than");
  if (!older_than_arg) throw UsageError("missing --older-than SECONDS");
  const std::chrono::seconds older_than{
      parse_integer(*older_than_arg, "--older-than", 1, kMaxOlderThanSeconds)};
  int batch = 10000;
  if (auto v = inv.args.value("--batch")) {
    batch = static_cast<int>(parse_integer(*v, "--batch", 1, kMaxBatch));
  }

  db::Database database{inv.context.effective};
  // Each batch commits on its own: an interrupted purge keeps what it did,
  // and no transaction holds more than `batch` rows.
  auto session = database.autocommit_session();
  db::JobRepository jobs{session};
  std::int64_t total = 0;
  needing_schema([&] {
    for (;;) {
      const auto n = jobs.purge_finished_jobs(older_than, batch);
      total += n;
      if (n < batch) break;
    }
  });
  fmt::print("deleted {} finished job{}\n", total, total == 1 ? "" : "s");
  return kExitOk;
}

}  // namespace

const Command& jobs_purge_command() {
  static const Command kCommand{
      .name = "jobs purge",
      .synopsis = "--older-than SECONDS [--batch N]",
      .summary = "delete finished jobs older than a retention period",
      .description =
          "Deletes completed, failed and cancelled jobs that finished more\n"
          "than SECONDS ago, oldest first, N per transaction, until none are\n"
          "left; pending and running jobs are never touched. Prints how many\n"
          "it deleted and exits 0 (also when there were none). A purged job\n"
          "no longer counts as existing for idempotent creation. Safe to run\n"
          "from cron while workers run, and from several hosts at once.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_jobs_purge,
  };
  return kCommand;
}

}  // namespace soundhash::cli
