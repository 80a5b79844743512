#include "claim_statements.hpp"

#include <algorithm>

#include "job_rows.hpp"

namespace soundhash::db::detail {
namespace {

// The ids a claim takes, as an array: up to `limit` runnable pending jobs of
// the $1 types that nobody else has locked, locked, in claim order
// (priority, run_at, id), and only if `gate` holds (the fused
// complete-and-claim claims only after completing). Every row locked is
// claimed.
//  - One type: a walk of that type's index, locking as it goes.
//  - Several: soundhash_lock_next_jobs (migration 6) merges the types'
//    fronts. One statement cannot merge them and lock only what it takes: a
//    locking walk per type locks a front of each and claims one (other
//    workers then skipped the rest and found nothing), and joining unlocked
//    candidates to the rows it locks let stale statistics pick a hash join
//    over the whole backlog. The scalar subquery calls it once per
//    statement, not once per row.
// The one-job claims spell out LIMIT 1: with a parameter there, the server's
// generic plan for the prepared statement looks dear, so it re-plans every
// call (a quarter of a millisecond each).
#define SH_ONE_TYPE(limit, gate)                                      \
  "ARRAY (SELECT q.id FROM processing_jobs q WHERE " SH_PENDING       \
  " AND q.job_type = ($1::text[])[1] AND q.run_at <= now() AND " gate \
  " ORDER BY q.priority, q.run_at, q.id LIMIT " limit                 \
  " FOR UPDATE SKIP LOCKED)"
#define SH_SEVERAL_TYPES(limit, gate)                                   \
  "(SELECT soundhash_lock_next_jobs($1::text[], " limit ") WHERE " gate \
  ")::bigint[]"

// Marks the jobs `ids` holds running for worker $2. The ids go through an
// array so that the plan stays an index lookup per id, instead of a hash
// join over the whole table.
#define SH_CLAIMED(ids)                                           \
  "claimed AS (UPDATE processing_jobs j SET status = 'running', " \
  "started_at = now(), heartbeat_at = now(), locked_by = $2, "    \
  "attempts = j.attempts + 1 WHERE j.id = ANY (" ids ") RETURNING j.*)"

#define SH_NEXT(ids) \
  "WITH " SH_CLAIMED(ids) " SELECT " SH_JOB_COLS " FROM claimed"
#define SH_BATCH(ids)                            \
  "WITH " SH_CLAIMED(ids) " SELECT " SH_JOB_COLS \
                          " FROM claimed ORDER BY priority, run_at, id"

// complete_job_and_claim_next: complete job $3 for worker $2, then claim one
// job only if the job is now completed by this worker. The row: the job's
// status and owner before, how many rows the completion changed, then the
// claimed job (NULL columns if none).
#define SH_DONE_GATE                                                       \
  "(EXISTS (SELECT 1 FROM done) OR EXISTS (SELECT 1 FROM processing_jobs " \
  "o WHERE o.id = $3 AND o.status = 'completed' AND o.locked_by = $2))"
#define SH_COMPLETE_AND_CLAIM(ids) \
  "WITH done AS (UPDATE processing_jobs d SET status = 'completed', "      \
  "completed_at = now(), progress = 100 WHERE d.id = $3 AND "              \
  "d.status = 'running' AND d.locked_by = $2 RETURNING d.id), " SH_CLAIMED( \
      ids) " SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = "  \
           "$3), (SELECT o.locked_by FROM processing_jobs o WHERE o.id = "  \
           "$3), (SELECT count(*) FROM done), c.* FROM (VALUES (1)) one "   \
           "LEFT JOIN claimed c ON true"

// [shape][0 for one type, 1 for several]
constexpr std::string_view kStatements[3][2] = {
    {SH_NEXT(SH_ONE_TYPE("1", "true")), SH_NEXT(SH_SEVERAL_TYPES("1", "true"))},
    {SH_BATCH(SH_ONE_TYPE("$3", "true")),
     SH_BATCH(SH_SEVERAL_TYPES("$3", "true"))},
    {SH_COMPLETE_AND_CLAIM(SH_ONE_TYPE("1", SH_DONE_GATE)),
     SH_COMPLETE_AND_CLAIM(SH_SEVERAL_TYPES("1", SH_DONE_GATE))},
};

}  // namespace

Claim::Claim(ClaimShape shape, const std::vector<std::string>& job_types)
    : types_(&job_types) {
  // Usually no type repeats and nothing is copied.
  const auto first = job_types.begin();
  for (auto it = first; it != job_types.end(); ++it) {
    const bool repeat = std::find(first, it, *it) != it;
    if (repeat && !distinct_) {
      distinct_.emplace(first, it);
    } else if (!repeat && distinct_) {
      distinct_->push_back(*it);
    }
  }
  sql_ = kStatements[static_cast<int>(shape)][types().size() > 1 ? 1 : 0];
}

}  // namespace soundhash::db::detail
