// `soundhash-db jobs retry ID`: put a failed or cancelled job back in the
// queue.

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kOptions[] = {
    {"--force", "", "", "retry even when retry_count >= max_retries"},
};

// The check and the change are one statement, so a worker that picks the
// job up (or another retry) between them cannot be overwritten.
// current_step goes too: a pending job has not reached any step. The job is
// runnable at once (run_at now, even if a backoff had pushed it out) and
// owned by nobody, as JobRepository::fail_job leaves a job it re-queues.
constexpr std::string_view kRetrySql =
    "UPDATE processing_jobs SET status = 'pending', "
    "retry_count = retry_count + 1, progress = 0, current_step = NULL, "
    "error_message = NULL, started_at = NULL, completed_at = NULL, "
    "locked_by = NULL, heartbeat_at = NULL, run_at = now() "
    "WHERE id = $1 AND status IN ('failed', 'cancelled') "
    "AND ($2::boolean OR retry_count < max_retries) "
    "RETURNING retry_count, max_retries";

// Only read when the UPDATE matched nothing, to say why.
constexpr std::string_view kWhyNotSql =
    "SELECT status, retry_count, max_retries FROM processing_jobs "
    "WHERE id = $1";

struct Outcome {
  bool retried = false;
  bool exists = false;
  std::string status;  // when not retried
  int retry_count = 0;
  int max_retries = 0;
};

Outcome retry(db::Database& database, std::int64_t id, bool force) {
  return database.transact([&](db::Session& s) {
    Outcome out;
    if (auto row = s.execute(kRetrySql, id, force).first()) {
      out.retried = out.exists = true;
      out.retry_count = (*row)[0].as<int>();
      out.max_retries = (*row)[1].as<int>();
      return out;
    }
    if (auto row = s.read(kWhyNotSql, id).first()) {
      out.exists = true;
      out.status = (*row)[0].as<std::string>();
      out.retry_count = (*row)[1].as<int>();
      out.max_retries = (*row)[2].as<int>();
    }
    return out;
  });
}

int run_jobs_retry(const Invocation& inv) {
  const std::int64_t id =
      parse_integer(inv.args.positionals[0], "ID", 1,
                    std::numeric_limits<std::int64_t>::max());
  const bool force = inv.args.flag("--force");

  db::Database database{inv.context.effective};
  const Outcome out =
      needing_schema([&] { return retry(database, id, force); });
  if (out.retried) {
    fmt::print("job {} is pending again (retry {} of {}{})\n", id,
               out.retry_count, out.max_retries,
               out.retry_count > out.max_retries ? ", forced" : "");
    return kExitOk;
  }
  if (!out.exists) throw Failure(fmt::format("job {} does not exist", id));
  if (out.status != "failed" && out.status != "cancelled") {
    throw Failure(fmt::format("job {} is {}, not failed or cancelled", id,
                              printable(out.status)));
  }
  if (out.retry_count >= out.max_retries) {
    throw Failure(fmt::format(
        "job {} has used {} of {} retries (--force retries it anyway)", id,
        out.retry_count, out.max_retries));
  }
  // It became retryable after our UPDATE looked: someone else changed it.
  throw Failure(fmt::format(
      "job {} changed while being retried; run the command again", id));
}

}  // namespace

const Command& jobs_retry_command() {
  static const Command kCommand{
      .name = "jobs retry",
      .synopsis = "ID [--force]",
      .summary = "move a failed or cancelled job back to pending",
      .description =
          "Moves job ID from failed (or cancelled) back to pending: adds one\n"
          "to retry_count, sets progress to 0, clears error_message,\n"
          "current_step, started_at, completed_at, locked_by and "
          "heartbeat_at,\n"
          "and sets run_at to now, so a worker can claim it at once. Refuses\n"
          "(exit 1) if the job does not exist, is not failed or cancelled, or\n"
          "has used all its retries (retry_count >= max_retries) unless\n"
          "--force is given.",
      .options = kOptions,
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_jobs_retry,
  };
  return kCommand;
}

}  // namespace soundhash::cli
