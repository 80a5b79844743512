// Worker's lifecycle (start, stop within a deadline, run) and JobContext.
// The threads' loop is worker_thread.cpp; heartbeats and rescue are
// worker_timer.cpp.

#include "soundhash/db/worker.hpp"

#include <unistd.h>

#include <algorithm>

#include "soundhash/db/errors.hpp"
#include "soundhash/db/session.hpp"
#include "worker_impl.hpp"

namespace soundhash::db {
namespace {

void check(const WorkerOptions& o) {
  using std::chrono::milliseconds;
  const bool ok =
      o.threads >= 1 && o.threads <= 256 && o.poll > milliseconds{0} &&
      o.heartbeat_every > milliseconds{0} && o.stale_after >= milliseconds{0} &&
      o.rescue_every > milliseconds{0} && o.stop_deadline >= milliseconds{0} &&
      o.schedules_every >= milliseconds{0};
  if (!ok) {
    throw InvalidArgument(
        "Worker: needs 1 <= threads <= 256, poll, heartbeat_every and "
        "rescue_every > 0, stale_after, stop_deadline and schedules_every "
        ">= 0");
  }
  if (o.stale_after.count() > 0 && o.stale_after <= o.heartbeat_every) {
    throw InvalidArgument(
        "Worker: stale_after must exceed heartbeat_every, or a live job "
        "would be rescued");
  }
}

std::string default_name() {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace

bool JobContext::stopping() const noexcept { return stopping_.load(); }

void JobContext::progress(double percent, std::optional<std::string> step) {
  const std::lock_guard lock(mutex_);
  progress_ = std::clamp(percent, 0.0, 100.0);
  if (step) step_ = std::move(step);
  progress_unsent_ = true;
}

void JobContext::complete_in(Session& session) {
  JobRepository{session}.complete_job(job_.id, worker_id_);
  completed_ = true;
}

Worker::Worker(Database& database, WorkerOptions options) {
  check(options);
  impl_ = std::make_unique<Impl>(database, std::move(options));
  impl_->name =
      impl_->options.name.empty() ? default_name() : impl_->options.name;
}

Worker::~Worker() {
  if (!impl_->started || impl_->stopped) return;
  try {
    stop();
  } catch (...) {  // a destructor reports nothing; stop() is the way to know
  }
}

Worker& Worker::on(std::string job_type, Handler handler) {
  if (impl_->started) {
    throw InvalidArgument("Worker::on: handlers are registered before start()");
  }
  if (job_type.empty() || !handler) {
    throw InvalidArgument("Worker::on: needs a job type and a handler");
  }
  impl_->handlers[std::move(job_type)] = std::move(handler);
  return *this;
}

void Worker::start() {
  auto& w = *impl_;
  if (w.started) throw InvalidArgument("Worker::start: already started");
  if (w.handlers.empty()) {
    throw InvalidArgument("Worker::start: no handler registered (on())");
  }
  for (const auto& [type, handler] : w.handlers) w.types.push_back(type);
  const int n = w.options.threads;
  // Listen before the first claim, so that a job created in between wakes.
  for (int i = 0; i < n; ++i) {
    w.listeners.push_back(std::make_unique<JobListener>(w.database, w.types));
  }
  w.slots.resize(static_cast<std::size_t>(n));
  w.started = true;
  w.threads_running = n;
  for (int i = 0; i < n; ++i) {
    w.threads.emplace_back([&w, i] {
      try {
        w.thread_main(i);
      } catch (...) {
        w.set_fatal(std::current_exception());
      }
      const std::lock_guard lock(w.done_mutex);
      --w.threads_running;
      w.done_cv.notify_all();
    });
  }
  w.timer = std::thread([&w] {
    try {
      w.timer_main();
    } catch (...) {
      w.set_fatal(std::current_exception());
    }
  });
}

void Worker::Impl::set_fatal(std::exception_ptr e) {
  {
    const std::lock_guard lock(done_mutex);
    if (!fatal) fatal = std::move(e);
  }
  stopping = true;
  for (auto& l : listeners) l->interrupt();
}

void Worker::request_stop() noexcept {
  // Only lock-free atomics and JobListener::interrupt(): signal-safe.
  impl_->stopping = true;
  for (auto& l : impl_->listeners) l->interrupt();
}

bool Worker::stop() {
  auto& w = *impl_;
  if (!w.started || w.stopped) return true;
  request_stop();
  bool in_time = true;
  {
    std::unique_lock lock(w.done_mutex);
    in_time = w.done_cv.wait_for(lock, w.options.stop_deadline,
                                 [&] { return w.threads_running == 0; });
  }
  if (!in_time) {
    // Tell the handlers still running to give up; a thread cannot be killed,
    // so they are waited for all the same.
    const std::lock_guard lock(w.slots_mutex);
    for (auto& slot : w.slots) {
      if (slot.context) slot.context->deadline_passed_ = true;
    }
  }
  for (auto& t : w.threads) t.join();
  {
    const std::lock_guard lock(w.done_mutex);
    w.timer_stop = true;
    w.done_cv.notify_all();
  }
  w.timer.join();
  w.stopped = true;
  if (w.fatal) std::rethrow_exception(w.fatal);
  return in_time;
}

WorkerStats Worker::run() {
  auto& w = *impl_;
  if (!w.started) start();
  {
    // Polls the stop flag: request_stop() may come from a signal handler,
    // which cannot notify a condition variable.
    std::unique_lock lock(w.done_mutex);
    while (!w.stopping && w.threads_running > 0) {
      w.done_cv.wait_for(lock, std::chrono::milliseconds{20});
    }
  }
  stop();
  return stats();
}

WorkerStats Worker::stats() const noexcept {
  const auto& w = *impl_;
  return {.completed = w.completed.load(),
          .failed = w.failed.load(),
          .released = w.released.load(),
          .lost = w.lost.load(),
          .rescued = w.rescued.load(),
          .scheduled = w.scheduled.load()};
}

}  // namespace soundhash::db
