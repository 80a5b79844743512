#include "claim_statements.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "job_rows.hpp"

namespace soundhash::db::detail {
namespace {

// The claim: lock the next `limit` runnable jobs of the $1 types that nobody
// else has locked, and mark them running for worker $2. `extra` narrows the
// candidates (the fused complete-and-claim claims only after completing).
// Each branch takes the front of one type's pending jobs from that type's
// index, skipping and locking as it goes, so it is the plain index walk the
// planner picks whatever its statistics say (a form that joined unlocked
// candidates to the rows it locked let stale statistics pick a hash join
// over the whole backlog). The fronts are then merged and cut to `limit`:
// with several types, up to `limit` jobs of each type are locked and only
// `limit` of them claimed; the others stay locked until the claiming
// transaction ends (at once in an autocommit session).
// The one-job claims spell out LIMIT 1: with a parameter there, the server's
// generic plan for the prepared statement looks dear, so it re-plans every
// call (a quarter of a millisecond each). The ids go through an array so
// that a LIMIT $3 plan stays an index lookup too, instead of a hash join
// over the whole table.
std::string claimed_cte(std::size_t types, std::string_view limit,
                        std::string_view extra) {
  std::string branches;
  for (std::size_t i = 1; i <= types; ++i) {
    if (i > 1) branches += " UNION ALL ";
    // FOR UPDATE is allowed in a UNION only inside a subquery of a branch.
    branches += fmt::format(
        "SELECT * FROM (SELECT q.id, q.priority, q.run_at "
        "FROM processing_jobs q WHERE q.status = 'pending' "
        "AND q.job_type = ($1::text[])[{}] AND q.run_at <= now(){} "
        "ORDER BY q.priority, q.run_at, q.id LIMIT {} "
        "FOR UPDATE SKIP LOCKED) t{}",
        i, extra, limit, i);
  }
  return fmt::format(
      "claimed AS (UPDATE processing_jobs j SET status = 'running', "
      "started_at = now(), heartbeat_at = now(), locked_by = $2, "
      "attempts = j.attempts + 1 WHERE j.id = ANY (ARRAY (SELECT u.id "
      "FROM ({}) u ORDER BY u.priority, u.run_at, u.id LIMIT {})) "
      "RETURNING j.*)",
      branches, limit);
}

std::string build(ClaimShape shape, std::size_t types) {
  switch (shape) {
    case ClaimShape::kNext:
      return "WITH " + claimed_cte(types, "1", "") +
             " SELECT " SH_JOB_COLS " FROM claimed";
    case ClaimShape::kBatch:
      return "WITH " + claimed_cte(types, "$3", "") +
             " SELECT " SH_JOB_COLS
             " FROM claimed ORDER BY priority, run_at, id";
    case ClaimShape::kCompleteAndClaim:
      // Complete job $3 for worker $2, then claim one job only if the job is
      // now completed by this worker. The row: the job's status and owner
      // before, how many rows the completion changed, then the claimed job
      // (NULL columns if none).
      return "WITH done AS (UPDATE processing_jobs d SET status = "
             "'completed', completed_at = now(), progress = 100 WHERE "
             "d.id = $3 AND d.status = 'running' AND d.locked_by = $2 "
             "RETURNING d.id), " +
             claimed_cte(types, "1",
                         " AND (EXISTS (SELECT 1 FROM done) OR EXISTS "
                         "(SELECT 1 FROM processing_jobs o WHERE o.id = $3 "
                         "AND o.status = 'completed' AND o.locked_by = $2))") +
             " SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = "
             "$3), (SELECT o.locked_by FROM processing_jobs o WHERE o.id = "
             "$3), (SELECT count(*) FROM done), c.* FROM (VALUES (1)) one "
             "LEFT JOIN claimed c ON true";
  }
  return {};
}

// Built once per shape and number of types, kept for the process's life
// (a service uses a handful), so the text is stable for the connections'
// prepared-statement caches.
std::string_view statement(ClaimShape shape, std::size_t types) {
  static std::mutex mutex;
  static std::map<std::pair<ClaimShape, std::size_t>, std::string> built;
  const std::lock_guard lock(mutex);
  auto [it, fresh] = built.try_emplace({shape, types});
  if (fresh) it->second = build(shape, types);
  return it->second;
}

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
  sql_ = statement(shape, types().size());
}

}  // namespace soundhash::db::detail
