#include "claim_statements.hpp"

#include <algorithm>

#include "sql/claims.hpp"

namespace soundhash::db::detail {
namespace {

// [shape][0 for one type, 1 for several]
constexpr std::string_view kStatements[3][2] = {
    {sql::kClaimNextJobOfType, sql::kClaimNextJobOfTypes},
    {sql::kClaimJobsOfType, sql::kClaimJobsOfTypes},
    {sql::kCompleteAndClaimNextOfType, sql::kCompleteAndClaimNextOfTypes},
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
