#pragma once
// Picks the claim statement (sql/claims.hpp) for a claim's shape and job
// types: one type and several take different statements.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soundhash::db::detail {

enum class ClaimShape {
  kNext = 0,              // claim_next_job: $1 types, $2 worker
  kBatch = 1,             // claim_jobs: also $3, how many
  kCompleteAndClaim = 2,  // complete_job_and_claim_next: also $3, the job done
};

/// One claim's job types, each once, and the statement that claims from them.
class Claim {
 public:
  /// `job_types` must be non-empty and outlive the Claim.
  Claim(ClaimShape shape, const std::vector<std::string>& job_types);

  /// The statement's $1: the job types without repeats (so that a type
  /// given twice still takes the one-type statement).
  const std::vector<std::string>& types() const {
    return distinct_ ? *distinct_ : *types_;
  }
  std::string_view sql() const { return sql_; }

 private:
  const std::vector<std::string>* types_;
  std::optional<std::vector<std::string>> distinct_;
  std::string_view sql_;
};

}  // namespace soundhash::db::detail
