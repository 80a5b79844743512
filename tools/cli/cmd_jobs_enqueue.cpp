// `soundhash-db jobs enqueue TYPE TARGET`: create a job unless one of that
// type and target is already pending or running, optionally with a priority,
// a retry budget, a delay, a timeout and a concurrency key.

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "new_job_options.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kOptions[] = {
    {"--params", "", "JSON", "the job's parameters, a JSON document"},
    {"--priority", "", "N", "claim order: lower runs first (default 0)"},
    {"--delay", "", "SECONDS",
     "not claimed before SECONDS from now (default 0)"},
    {"--max-retries", "", "N",
     "how often a failure sends it back to pending (default 3)"},
    {"--timeout", "", "SECONDS",
     "fail an attempt that runs longer than SECONDS (default: no limit)"},
    {"--key", "", "KEY",
     "what the type's per-key concurrency limit counts by (1-255 bytes)"},
};

// The new job as the options describe it (NewJob's defaults otherwise).
db::NewJob new_job(const ParsedArgs& args) {
  db::NewJob job;
  job.job_type = args.positionals[0];
  job.target_id = args.positionals[1];
  read_new_job_options(args, job);
  return job;
}

// The column is text, so the server would store anything; ask it to parse
// the JSON so that a typo is caught here rather than by a worker later.
void check_json(db::Database& database, const std::string& json) {
  try {
    database.transact(
        [&](db::Session& s) { s.read("SELECT $1::jsonb IS NULL", json); });
  } catch (const db::DataError& e) {
    throw UsageError(fmt::format("--params is not valid JSON: {}{}{}", e.what(),
                                 e.detail().empty() ? "" : ": ", e.detail()));
  }
}

int run_jobs_enqueue(const Invocation& inv) {
  const db::NewJob wanted = new_job(inv.args);
  db::Database database{inv.context.effective};
  if (wanted.parameters) check_json(database, *wanted.parameters);
  const auto [job, created] = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      return db::JobRepository{s}.create_job_if_not_exists(wanted);
    });
  });
  if (created) {
    fmt::print("created job {}\n", job.id);
  } else {
    fmt::print("job {} already {}\n", job.id, printable(job.status));
  }
  return kExitOk;
}

}  // namespace

const Command& jobs_enqueue_command() {
  static const Command kCommand{
      .name = "jobs enqueue",
      .synopsis =
          "TYPE TARGET [--params JSON] [--priority N] [--delay SECONDS] "
          "[--max-retries N] [--timeout SECONDS] [--key KEY]",
      .summary = "create a job unless one is already pending or running",
      .description =
          "Creates a pending job of TYPE for TARGET (e.g. video_process\n"
          "vid123) unless a job of that type and target is already pending\n"
          "or running; race-free against other processes doing the same.\n"
          "--priority, --delay, --max-retries, --timeout and --key apply to a\n"
          "job this command creates; an existing job is left as it is. With\n"
          "--key, a per-key limit of TYPE (limits set TYPE --per-key N) "
          "counts\n"
          "the job under KEY. Prints \"created job N\" or \"job N already\n"
          "pending\" (or running); both exit 0.",
      .options = kOptions,
      .min_positionals = 2,
      .max_positionals = 2,
      .run = run_jobs_enqueue,
  };
  return kCommand;
}

}  // namespace soundhash::cli
