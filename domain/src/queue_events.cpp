#include "queue_events.hpp"

#include "soundhash/db/database.hpp"

namespace soundhash::db {

QueueObserver* queue_observer(const Database& database) noexcept {
  return dynamic_cast<QueueObserver*>(database.observer());
}

namespace detail {

void report_claimed(Session& s, std::span<const ProcessingJob> jobs) noexcept {
  QueueObserver* o = queue_observer(s.database());
  if (!o) return;
  for (const auto& job : jobs) {
    std::chrono::nanoseconds wait{0};
    if (job.started_at && *job.started_at > job.run_at) {
      wait = *job.started_at - job.run_at;
    }
    o->on_job({.change = JobChange::claimed,
               .job_type = job.job_type,
               .job_id = job.id,
               .wait = wait});
  }
}

void report_job(Session& s, JobChange change, std::string_view job_type,
                std::int64_t job_id, bool retrying) noexcept {
  if (QueueObserver* o = queue_observer(s.database())) {
    o->on_job({.change = change,
               .job_type = job_type,
               .job_id = job_id,
               .retrying = retrying});
  }
}

}  // namespace detail
}  // namespace soundhash::db
