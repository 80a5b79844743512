// A Worker's timer thread: heartbeats for running jobs (with the progress
// their handlers recorded), the rescue of stale jobs by one process at a
// time, and the jobs of due schedules.

#include <spdlog/logger.h>

#include <algorithm>

#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/session.hpp"
#include "sql/queue.hpp"
#include "worker_impl.hpp"

namespace soundhash::db {
namespace {

// Key of the transaction-level advisory lock that elects the rescuer
// ("SHDBRESC"). Transaction-level so it also works behind PgBouncer.
constexpr long long kRescueLock = 0x5348444252455343LL;

// A running job whose heartbeat is due, copied out of its slot so that no
// lock is held over the round trip.
struct Beat {
  std::size_t slot;
  std::int64_t job_id;
  std::string worker_id;
  std::optional<double> progress;
  std::optional<std::string> step;
};

}  // namespace

void Worker::Impl::timer_main() {
  using std::chrono::milliseconds;
  auto session = database.autocommit_session();
  JobRepository jobs{session};
  auto shortest = std::min(options.heartbeat_every, options.rescue_every);
  if (options.schedules_every.count() > 0) {
    shortest = std::min(shortest, options.schedules_every);
  }
  const auto tick =
      std::clamp(shortest / 4, milliseconds{10}, milliseconds{1000});
  auto next_rescue = Clock::now();
  auto next_schedules = Clock::now();
  while (true) {
    {
      std::unique_lock lock(done_mutex);
      if (done_cv.wait_for(lock, tick, [&] { return timer_stop; })) return;
    }
    try {
      send_heartbeats(jobs);
      if (options.stale_after.count() > 0 && !stopping &&
          Clock::now() >= next_rescue) {
        next_rescue = Clock::now() + options.rescue_every;
        rescue();
      }
      if (options.schedules_every.count() > 0 && !stopping &&
          Clock::now() >= next_schedules) {
        next_schedules = Clock::now() + options.schedules_every;
        scheduled +=
            static_cast<std::int64_t>(jobs.enqueue_due_schedules().size());
      }
    } catch (const Error& e) {
      // The threads see to real trouble; a lost heartbeat only costs the
      // job if the server stays away past stale_after.
      logger().warn("worker {}: timer: {}", name, e.what());
    }
  }
}

void Worker::Impl::send_heartbeats(JobRepository& jobs) {
  std::vector<Beat> due;
  const auto now = Clock::now();
  {
    const std::lock_guard lock(slots_mutex);
    for (std::size_t i = 0; i < slots.size(); ++i) {
      auto& s = slots[i];
      if (!s.context || s.context->completed_ || s.context->lost_ ||
          now - s.last_beat < options.heartbeat_every) {
        continue;
      }
      auto& c = *s.context;
      Beat b{i, c.job().id, c.worker_id(), std::nullopt, std::nullopt};
      {
        const std::lock_guard progress_lock(c.mutex_);
        if (c.progress_unsent_) {
          b.progress = c.progress_;
          b.step = c.step_;
          c.progress_unsent_ = false;
        }
      }
      s.last_beat = now;
      due.push_back(std::move(b));
    }
  }
  for (auto& b : due) {
    try {
      jobs.heartbeat(b.job_id, b.worker_id, b.progress, std::move(b.step),
                     options.backoff);
    } catch (const JobNotOwned&) {
      // Cancelled or rescued: the handler learns it from its context.
      const std::lock_guard lock(slots_mutex);
      auto* c = slots[b.slot].context;
      if (c && c->job().id == b.job_id) c->lost_ = true;
    }
  }
}

void Worker::Impl::rescue() {
  const auto n = database.transact([&](Session& s) -> std::size_t {
    // Whoever holds the lock rescues; the others skip this round.
    if (!s.execute(detail::sql::kTryRescueLock, kRescueLock)
             .one()[0]
             .as<bool>()) {
      return 0;
    }
    return JobRepository{s}
        .rescue_stale_jobs(options.stale_after, options.backoff)
        .size();
  });
  rescued += static_cast<std::int64_t>(n);
}

}  // namespace soundhash::db
