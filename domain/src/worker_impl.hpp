#pragma once
// The state a Worker's threads share: its handlers, the running jobs' contexts
// (read by the timer thread for heartbeats), the stop flag and the counters.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "soundhash/db/database.hpp"
#include "soundhash/db/job_listener.hpp"
#include "soundhash/db/worker.hpp"

namespace soundhash::db {

struct Worker::Impl {
  using Clock = std::chrono::steady_clock;

  // What a handler's run came to.
  // kFailedAfterCompleteIn: the handler threw after complete_in, so whether
  // its unit committed (and the job with it) is not known here.
  enum class Outcome {
    kCompleted,
    kFailed,
    kFailedAfterCompleteIn,
    kReleased,
    kLost
  };

  // A thread's job in hand, as the timer sees it.
  struct Slot {
    JobContext* context = nullptr;  // null while the thread runs no handler
    Clock::time_point last_beat{};
  };

  Impl(Database& db, WorkerOptions opts)
      : database(db), options(std::move(opts)) {}

  // worker_thread.cpp
  void thread_main(int index);
  Outcome run_handler(int index, const ProcessingJob& job,
                      const std::string& me, std::string& error);
  bool queue_idle(JobRepository& jobs) const;
  // worker_timer.cpp
  void timer_main();
  void send_heartbeats(JobRepository& jobs);
  void rescue();

  void set_fatal(std::exception_ptr e);

  Database& database;
  const WorkerOptions options;
  std::map<std::string, Handler> handlers;
  std::vector<std::string> types;  // the handlers' keys
  std::string name;                // the worker ids' prefix

  std::atomic<bool> stopping{false};  // request_stop(): no new job starts
  bool started = false;
  bool stopped = false;

  // Built before the threads start and kept until they are joined, so that
  // request_stop() may walk it from a signal handler.
  std::vector<std::unique_ptr<JobListener>> listeners;
  std::vector<std::thread> threads;
  std::thread timer;

  std::mutex slots_mutex;
  std::vector<Slot> slots;  // one per thread

  std::mutex done_mutex;  // with done_cv: threads ending, the timer's sleep
  std::condition_variable done_cv;
  int threads_running = 0;
  bool timer_stop = false;

  std::exception_ptr fatal;  // guarded by done_mutex

  std::atomic<std::int64_t> completed{0}, failed{0}, released{0}, lost{0},
      rescued{0}, scheduled{0};
};

}  // namespace soundhash::db
