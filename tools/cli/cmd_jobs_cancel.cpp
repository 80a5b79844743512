// `soundhash-db jobs cancel ID`: cancel a pending or running job.

#include <fmt/format.h>

#include <cstdint>
#include <limits>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"

namespace soundhash::cli {
namespace {

int run_jobs_cancel(const Invocation& inv) {
  const std::int64_t id =
      parse_integer(inv.args.positionals[0], "ID", 1,
                    std::numeric_limits<std::int64_t>::max());
  db::Database database{inv.context.effective};
  try {
    const auto job = needing_schema([&] {
      return database.transact(
          [&](db::Session& s) { return db::JobRepository{s}.cancel_job(id); });
    });
    if (job.locked_by) {
      fmt::print(
          "job {} is cancelled; it was running under worker {}, which learns "
          "of it at its next heartbeat\n",
          id, printable(*job.locked_by));
    } else {
      fmt::print("job {} is cancelled\n", id);
    }
    return kExitOk;
  } catch (const db::JobNotFound&) {
    throw Failure(fmt::format("job {} does not exist", id));
  } catch (const db::JobAlreadyFinished& e) {
    throw Failure(fmt::format("job {} has already finished (status {})", id,
                              printable(e.status())));
  }
}

}  // namespace

const Command& jobs_cancel_command() {
  static const Command kCommand{
      .name = "jobs cancel",
      .synopsis = "ID",
      .summary = "cancel a pending or running job",
      .description =
          "Cancels job ID. A pending job is cancelled at once. A running job\n"
          "is cancelled at once too: no worker can complete, fail or retry it\n"
          "any more, and its worker learns of it at its next heartbeat (a\n"
          "db::Worker handler sees JobContext::cancelled()), so its work may\n"
          "go on until then. Refuses (exit 1) if the job does not exist or\n"
          "has already finished; nothing changes then. `jobs retry ID` puts a\n"
          "cancelled job back in the queue.",
      .options = {},
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_jobs_cancel,
  };
  return kCommand;
}

}  // namespace soundhash::cli
