// `soundhash-db jobs enqueue TYPE TARGET`: create a job unless one of that
// type and target is already pending or running.

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/job_repository.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kOptions[] = {
    {"--params", "", "JSON", "the job's parameters, a JSON document"},
};

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
  const std::string& type = inv.args.positionals[0];
  const std::string& target = inv.args.positionals[1];
  const std::optional<std::string> params = inv.args.value("--params");

  db::Database database{inv.context.effective};
  if (params) check_json(database, *params);
  const auto [job, created] = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      return db::JobRepository{s}.create_job_if_not_exists(type, target,
                                                           params);
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
      .synopsis = "TYPE TARGET [--params JSON]",
      .summary = "create a job unless one is already pending or running",
      .description =
          "Creates a pending job of TYPE for TARGET (e.g. video_process\n"
          "vid123) unless a job of that type and target is already pending\n"
          "or running; race-free against other processes doing the same.\n"
          "Prints \"created job N\" or \"job N already pending\" (or\n"
          "running); both exit 0.",
      .options = kOptions,
      .min_positionals = 2,
      .max_positionals = 2,
      .run = run_jobs_enqueue,
  };
  return kCommand;
}

}  // namespace soundhash::cli
