// db::Worker with cancellation and timeouts (issue 19): a cancelled or timed
// out job's handler sees JobContext::cancelled() within a heartbeat, and the
// job ends in the documented state whatever the handler then does.
#include <atomic>
#include <chrono>
#include <ostream>
#include <soundhash/db/worker.hpp>
#include <stdexcept>
#include <thread>

#include "queue_fixture.hpp"

namespace sh_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What the handler does once it sees its flag.
enum class Then { kReturn, kThrow };

void PrintTo(Then then, std::ostream* os) {
  *os << (then == Then::kReturn ? "returns" : "throws");
}

class WorkerControlTest : public QueueTest,
                          public ::testing::WithParamInterface<Then> {
 protected:
  static db::WorkerOptions fast() {
    db::WorkerOptions o;
    o.threads = 1;
    o.name = "wc";
    o.poll = 200ms;
    o.heartbeat_every = 50ms;
    o.stale_after = 0ms;
    o.stop_deadline = 2s;
    return o;
  }
  // Runs job `id` in a Worker whose handler waits (up to 5 s) for its flag,
  // calls `act` once the handler runs, and returns how long after `act` the
  // handler saw the flag.
  template <typename Act>
  std::chrono::milliseconds run_until_flag(Act act, db::WorkerStats& stats) {
    db::Worker worker{database, fast()};
    std::atomic<bool> running{false}, saw_flag{false};
    const Then then = GetParam();
    worker.on("fp", [&](db::JobContext& c) {
      running = true;
      const auto until = Clock::now() + 5s;
      while (!c.cancelled() && Clock::now() < until) {
        std::this_thread::sleep_for(2ms);
      }
      saw_flag = c.cancelled();
      if (then == Then::kThrow) throw std::runtime_error("gave up");
    });
    worker.start();
    while (!running) std::this_thread::sleep_for(2ms);
    act();
    const auto acted = Clock::now();
    while (!saw_flag && Clock::now() - acted < 5s) {
      std::this_thread::sleep_for(2ms);
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        Clock::now() - acted);
    EXPECT_TRUE(saw_flag.load());
    EXPECT_TRUE(worker.stop());
    stats = worker.stats();
    return took;
  }
  std::string state(std::int64_t id) {
    return side.value(
        "SELECT status || ' ' || retry_count || ' ' || jsonb_array_length("
        "errors) FROM processing_jobs WHERE id = " +
        std::to_string(id));
  }
};

TEST_P(WorkerControlTest, ACancelledJobsHandlerSeesItsFlagWithinAHeartbeat) {
  const auto id = jobs.create_job(job("c")).id;
  db::WorkerStats stats;
  const auto took = run_until_flag(
      [&] {
        auto s2 = database.autocommit_session();
        (void)db::JobRepository{s2}.cancel_job(id);
      },
      stats);
  // One heartbeat period (50 ms) plus the timer's tick and a round trip.
  EXPECT_LT(took, 500ms);
  EXPECT_EQ(state(id), "cancelled 0 0")
      << "cancelled, not failed, whether the handler returns or throws";
  EXPECT_EQ(stats.lost, 1);
  EXPECT_EQ(stats.completed, 0);
  EXPECT_EQ(stats.failed, 0);
}

TEST_P(WorkerControlTest, ATimedOutJobsHandlerSeesItsFlagAndTheJobFails) {
  auto j = job("t", 0, 0ms, 0);  // no retries: the timeout ends it failed
  j.timeout = 200ms;
  const auto id = jobs.create_job(j).id;
  db::WorkerStats stats;
  const auto took = run_until_flag([] {}, stats);
  // The timeout, then at most one heartbeat period and a tick.
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 700ms);
  EXPECT_EQ(state(id), "failed 0 1");
  EXPECT_EQ(side.value("SELECT error_message FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "timed out: the attempt ran longer than 200 ms");
  EXPECT_EQ(stats.lost, 1);
  EXPECT_EQ(stats.failed, 0) << "the heartbeat failed it, not the handler";
}

INSTANTIATE_TEST_SUITE_P(ThenHandler, WorkerControlTest,
                         ::testing::Values(Then::kReturn, Then::kThrow),
                         [](const auto& param_info) {
                           return param_info.param == Then::kReturn ? "Returns"
                                                                    : "Throws";
                         });

}  // namespace
}  // namespace sh_test
