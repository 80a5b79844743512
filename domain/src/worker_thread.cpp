// A Worker thread's loop: claim, run the handler, then complete and claim the
// next job in one round trip (or fail, release, or drop the job); sleep on
// LISTEN when the queue is empty.

#include <spdlog/logger.h>

#include <algorithm>

#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"
#include "worker_impl.hpp"

namespace soundhash::db {

void Worker::Impl::thread_main(int index) {
  const std::string me = name + ":" + std::to_string(index);
  // Each call commits before it returns; no connection is held between them,
  // so none is held while a handler runs.
  auto session = database.autocommit_session();
  JobRepository jobs{session};
  JobListener& listener = *listeners[static_cast<std::size_t>(index)];
  const auto idle_wait =
      options.until_idle
          ? std::min(options.poll, std::chrono::milliseconds{200})
          : options.poll;

  std::optional<ProcessingJob> job;  // claimed, not yet run
  while (job || !stopping) {
    try {
      if (!job) {
        job = jobs.claim_next_job(types, me);
        if (!job) {
          if (options.until_idle && queue_idle(jobs)) return;
          listener.wait_for_jobs(idle_wait);
          continue;
        }
      }
      const std::int64_t id = job->id;
      if (stopping) {  // claimed but never started: hand it back at once
        job.reset();
        (void)jobs.release_jobs({id}, me);
        ++released;
        continue;
      }
      std::string error;
      const Outcome outcome = run_handler(index, *job, me, error);
      job.reset();
      switch (outcome) {
        case Outcome::kCompleted:
          try {
            if (stopping) {
              jobs.complete_job(id, me);
            } else {
              job = jobs.complete_job_and_claim_next(id, me, types);
            }
          } catch (const CommitInDoubt& e) {
            // The completion may or may not have committed (and a claim with
            // it: such a job is rescued later). Completing again is a no-op
            // for a job this worker already completed.
            logger().warn("worker {}: {}; completing job {} again", me,
                          e.what(), id);
            job.reset();
            jobs.complete_job(id, me);
          }
          ++completed;
          break;
        case Outcome::kFailed:
          jobs.fail_job(id, me, error, options.backoff);
          ++failed;
          break;
        case Outcome::kFailedAfterCompleteIn:
          // Failing the attempt is right either way: had the handler's unit
          // committed, the job would no longer be running under this worker
          // and fail_job would change nothing.
          try {
            jobs.fail_job(id, me, error, options.backoff);
            ++failed;
          } catch (const JobNotOwned&) {
            ++completed;  // its own completion committed before it threw
          }
          break;
        case Outcome::kReleased:
          (void)jobs.release_jobs({id}, me);
          ++released;
          break;
        case Outcome::kLost:
          ++lost;
          break;
      }
    } catch (const JobNotOwned& e) {
      // Rescued, cancelled or finished elsewhere meanwhile: drop it.
      logger().warn("worker {}: {}", me, e.what());
      job.reset();
      ++lost;
    } catch (const Error& e) {
      if (!e.is_transient() && !dynamic_cast<const CommitInDoubt*>(&e)) {
        throw;  // not a passing outage: stops the worker, stop() rethrows
      }
      // The server is away (the call already retried). What this thread held
      // is rescued later; pause, then try again.
      logger().warn("worker {}: {}", me, e.what());
      job.reset();
      if (!stopping) listener.wait_for_jobs(options.poll);
    }
  }
}

Worker::Impl::Outcome Worker::Impl::run_handler(int index,
                                                const ProcessingJob& job,
                                                const std::string& me,
                                                std::string& error) {
  JobContext context{job, me, database, stopping};
  auto& slot = slots[static_cast<std::size_t>(index)];
  {
    const std::lock_guard lock(slots_mutex);
    slot.context = &context;
    slot.last_beat = Clock::now();  // the claim counts as a heartbeat
  }
  struct Unhook {  // the timer must not see the context once it is gone
    Impl& w;
    Slot& s;
    ~Unhook() {
      const std::lock_guard lock(w.slots_mutex);
      s.context = nullptr;
    }
  } unhook{*this, slot};

  try {
    handlers.at(job.job_type)(context);
    return context.lost_ ? Outcome::kLost : Outcome::kCompleted;
  } catch (const JobNotOwned&) {
    return Outcome::kLost;  // from complete_in or the handler's own calls
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  if (context.lost_) return Outcome::kLost;
  // complete_in ran, but its unit need not have committed: a throw inside
  // the unit rolls it back, and a COMMIT that fails or is in doubt throws.
  if (context.completed_) return Outcome::kFailedAfterCompleteIn;
  // Gave up because the worker is stopping: the job did not fail.
  if (context.deadline_passed_) return Outcome::kReleased;
  return Outcome::kFailed;
}

bool Worker::Impl::queue_idle(JobRepository& jobs) const {
  for (const auto& type : types) {
    auto counts = jobs.count_jobs_by_status(type);
    if (counts["pending"] + counts["running"] > 0) return false;
  }
  return true;
}

}  // namespace soundhash::db
