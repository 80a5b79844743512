#pragma once
// Reporting queue events from JobRepository (see queue_observer.hpp): one
// call at each site, a pointer test when nobody listens.

#include <cstdint>
#include <span>
#include <string_view>

#include "soundhash/db/models.hpp"
#include "soundhash/db/queue_observer.hpp"
#include "soundhash/db/session.hpp"

namespace soundhash::db::detail {

/// Jobs just claimed (a claim's wait is started_at - run_at, both the
/// server's clock).
void report_claimed(Session& s, std::span<const ProcessingJob> jobs) noexcept;
/// One job's change other than a claim.
void report_job(Session& s, JobChange change, std::string_view job_type,
                std::int64_t job_id, bool retrying = false) noexcept;

}  // namespace soundhash::db::detail
