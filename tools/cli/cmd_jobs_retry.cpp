// `soundhash-db jobs retry ID`: put a failed or cancelled job back in the
// queue; `jobs retry --type T [--status S] [--since SECONDS]`: all of them,
// in batches.

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
    {"--type", "", "T", "without ID: retry every job of type T in status S"},
    {"--status", "", "S", "with --type: failed (default) or cancelled"},
    {"--since", "", "SECONDS",
     "with --type: only jobs that finished in the last SECONDS"},
    {"--batch", "", "N", "with --type: jobs per transaction (default 1000)"},
};

constexpr std::int64_t kMaxSinceSeconds = 3660LL * 24 * 3600;
constexpr std::int64_t kMaxBatch = 1'000'000;

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

// The active job of job $1's (type, target) other than $1, for the message
// when a unique index over active jobs refuses the retry.
constexpr std::string_view kActiveTwinSql =
    "SELECT a.id, a.status, a.job_type, a.target_id "
    "FROM processing_jobs j JOIN processing_jobs a "
    "ON a.job_type = j.job_type AND a.target_id = j.target_id "
    "WHERE j.id = $1 AND a.id <> $1 AND a.status IN ('pending', 'running') "
    "ORDER BY a.id LIMIT 1";

struct Outcome {
  bool retried = false;
  bool exists = false;
  std::string status;  // when not retried
  int retry_count = 0;
  int max_retries = 0;
};

// A unique index over active jobs (docs/guide/migration.md, "Racing
// creators") refused to make job `id` a second active job of its key: says
// which job holds the key, instead of the server's 23505 text.
[[noreturn]] void refuse_second_active(db::Database& database, std::int64_t id,
                                       const db::IntegrityError& e) {
  const auto twin = database.transact(
      [&](db::Session& s) { return s.read(kActiveTwinSql, id).first(); });
  if (!twin) throw e;  // that job finished meanwhile: the server's own words
  throw Failure(fmt::format(
      "job {} cannot be retried: job {} ({} for {}) is already {}, and the "
      "unique index {} allows one pending or running job per type and "
      "target; retry it once that job has finished, or cancel that job first",
      id, (*twin)[0].as<std::int64_t>(),
      printable((*twin)[2].as<std::string>()),
      printable((*twin)[3].as<std::string>()),
      printable((*twin)[1].as<std::string>()),
      e.constraint().empty() ? "over active jobs" : printable(e.constraint())));
}

Outcome retry_once(db::Database& database, std::int64_t id, bool force) {
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

Outcome retry(db::Database& database, std::int64_t id, bool force) {
  try {
    return retry_once(database, id, force);
  } catch (const db::IntegrityError& e) {
    if (e.sqlstate() != "23505") throw;
    refuse_second_active(database, id, e);
  }
}

// One batch of a bulk retry: the next $5 jobs (by id, after $4) of type $2 in
// status $1 that finished in the last $3 seconds (all if NULL), reset as
// kRetrySql resets one. Skipped, and counted: jobs whose retries are used up
// (unless $6, --force), and jobs whose (type, target) already has a pending
// or running job, or a newer job redriven in this batch, so that a bulk
// retry never makes a second active job of one key (the optional unique
// index of docs/guide/migration.md would refuse the whole batch). SKIP
// LOCKED: a job someone is changing right now is passed over. The row: the
// last id read (NULL: none left), how many were read, retried, and skipped
// for their retry budget.
constexpr std::string_view kRetryBatchSql = R"sql(
WITH batch AS (
  SELECT q.id, q.job_type, q.target_id, q.retry_count, q.max_retries
    FROM processing_jobs q
   WHERE q.status = $1 AND q.job_type = $2
     AND ($3::bigint IS NULL
          OR q.completed_at >= now() - $3::bigint * interval '1 second')
     AND q.id > $4
   ORDER BY q.id
   LIMIT $5
     FOR UPDATE SKIP LOCKED),
eligible AS (
  SELECT DISTINCT ON (b.job_type, b.target_id) b.id
    FROM batch b
   WHERE ($6::boolean OR b.retry_count < b.max_retries)
     AND NOT EXISTS (SELECT 1 FROM processing_jobs a
                      WHERE a.job_type = b.job_type
                        AND a.target_id = b.target_id
                        AND a.status IN ('pending', 'running'))
   ORDER BY b.job_type, b.target_id, b.id DESC),
retried AS (
  UPDATE processing_jobs j
     SET status = 'pending', retry_count = j.retry_count + 1, progress = 0,
         current_step = NULL, error_message = NULL, started_at = NULL,
         completed_at = NULL, locked_by = NULL, heartbeat_at = NULL,
         run_at = now()
    FROM eligible e
   WHERE j.id = e.id
  RETURNING j.id)
SELECT (SELECT max(id) FROM batch),
       (SELECT count(*) FROM batch),
       (SELECT count(*) FROM retried),
       (SELECT count(*) FROM batch b
         WHERE NOT ($6::boolean OR b.retry_count < b.max_retries))
)sql";

struct BulkCounts {
  std::int64_t read = 0;
  std::int64_t retried = 0;
  std::int64_t used_up = 0;  // skipped: retries used up
  std::int64_t batches = 0;
};

int run_bulk_retry(const Invocation& inv, const std::string& type) {
  const std::string status = inv.args.value("--status").value_or("failed");
  if (status != "failed" && status != "cancelled") {
    throw UsageError(
        fmt::format("--status: '{}' cannot be retried (failed or cancelled)",
                    printable(status)));
  }
  std::optional<std::int64_t> since;
  if (auto v = inv.args.value("--since")) {
    since = parse_integer(*v, "--since", 1, kMaxSinceSeconds);
  }
  std::int64_t batch = 1000;
  if (auto v = inv.args.value("--batch")) {
    batch = parse_integer(*v, "--batch", 1, kMaxBatch);
  }
  const bool force = inv.args.flag("--force");

  db::Database database{inv.context.effective};
  BulkCounts n;
  std::int64_t after = 0;
  needing_schema([&] {
    for (int refusals = 0;;) {
      std::optional<db::Row> row;
      try {
        // Each batch commits on its own: an interrupted run keeps what it
        // did, and no transaction holds more than `batch` rows.
        row = database.transact([&](db::Session& s) {
          return s
              .execute(kRetryBatchSql, status, type, since, after, batch, force)
              .one();
        });
      } catch (const db::IntegrityError&) {
        // A creator made an active job of a key in this batch after the
        // batch looked (the unique index refused it): the next try sees it
        // and skips that key.
        if (++refusals >= 3) throw;
        continue;
      }
      if ((*row)[0].is_null()) break;
      refusals = 0;
      after = (*row)[0].as<std::int64_t>();
      n.read += (*row)[1].as<std::int64_t>();
      n.retried += (*row)[2].as<std::int64_t>();
      n.used_up += (*row)[3].as<std::int64_t>();
      ++n.batches;
    }
  });
  fmt::print("retried {} of {} {} job{} of type {} ({} batch{})\n", n.retried,
             n.read, status, n.read == 1 ? "" : "s", printable(type), n.batches,
             n.batches == 1 ? "" : "es");
  if (n.used_up > 0) {
    fmt::print("skipped {}: retries used up (--force retries them anyway)\n",
               n.used_up);
  }
  if (const auto active = n.read - n.retried - n.used_up; active > 0) {
    fmt::print(
        "skipped {}: another job of the same type and target is pending or "
        "running\n",
        active);
  }
  return kExitOk;
}

int run_jobs_retry(const Invocation& inv) {
  const auto type = inv.args.value("--type");
  if (inv.args.positionals.empty()) {
    if (!type) throw UsageError("missing ID (or --type T to retry in bulk)");
    return run_bulk_retry(inv, *type);
  }
  for (auto bulk_only : {"--type", "--status", "--since", "--batch"}) {
    if (inv.args.value(bulk_only)) {
      throw UsageError(fmt::format(
          "{} retries in bulk: give it or ID, not both", bulk_only));
    }
  }
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
      .synopsis =
          "ID [--force] | --type T [--status S] [--since SECONDS] [--batch N] "
          "[--force]",
      .summary = "move failed or cancelled jobs back to pending",
      .description =
          "Moves job ID from failed (or cancelled) back to pending: adds one\n"
          "to retry_count, sets progress to 0, clears error_message,\n"
          "current_step, started_at, completed_at, locked_by and "
          "heartbeat_at,\n"
          "and sets run_at to now, so a worker can claim it at once. Refuses\n"
          "(exit 1) if the job does not exist, is not failed or cancelled, or\n"
          "has used all its retries (retry_count >= max_retries) unless\n"
          "--force is given.\n\n"
          "With --type T instead of ID: does the same to every job of type T\n"
          "in status S (failed unless --status cancelled), of those that\n"
          "finished in the last SECONDS with --since, N per transaction, and\n"
          "prints how many it retried and why it skipped the others: retries\n"
          "used up (without --force), or another job of the same type and\n"
          "target already pending or running (only the newest of one target\n"
          "is retried), so that no target gets a second active job. The job's\n"
          "error history is kept. Exit 0 also when nothing matched.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 1,
      .run = run_jobs_retry,
  };
  return kCommand;
}

}  // namespace soundhash::cli
