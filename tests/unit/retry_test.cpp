// db_retry and RetryPolicy: delays, budget and logging, without sleeping.
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <limits>
#include <soundhash/db/log.hpp>
#include <soundhash/db/retry.hpp>
#include <sstream>

namespace db = soundhash::db;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

struct Recorder {
  std::vector<nanoseconds> delays;
  db::RetryPolicy policy(int max_retries = 3) {
    db::RetryPolicy p;
    p.max_retries = max_retries;
    p.sleeper = [this](nanoseconds d) { delays.push_back(d); };
    return p;
  }
};

struct LogSink {
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink =
      std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  LogSink() {
    sink->set_pattern("%l|%v");
    db::logger().sinks().push_back(sink);
  }
  ~LogSink() { std::erase(db::logger().sinks(), sink); }
};

}  // namespace

TEST(RetryPolicy, DefaultsAreTheSeeds) {
  db::RetryPolicy p;
  EXPECT_EQ(p.max_retries, 3);
  EXPECT_EQ(p.initial_delay, 500ms);
  EXPECT_EQ(p.max_delay, 5000ms);
  EXPECT_DOUBLE_EQ(p.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(p.jitter, 0.0);
  EXPECT_EQ(p.delay_for(0), nanoseconds(500ms));
  EXPECT_EQ(p.delay_for(1), nanoseconds(1000ms));
  EXPECT_EQ(p.delay_for(2), nanoseconds(2000ms));
}

TEST(RetryPolicy, DelayIsCappedAtMaxDelay) {
  db::RetryPolicy p;
  EXPECT_EQ(p.delay_for(3), nanoseconds(4000ms));
  EXPECT_EQ(p.delay_for(4), nanoseconds(5000ms));
  EXPECT_EQ(p.delay_for(30), nanoseconds(5000ms));
}

TEST(RetryPolicy, JitterStaysWithinBounds) {
  db::RetryPolicy p;
  p.jitter = 0.25;
  EXPECT_EQ(p.delay_for(1, 0.0), nanoseconds(750ms));
  EXPECT_EQ(p.delay_for(1, 0.5), nanoseconds(1000ms));
  EXPECT_EQ(p.delay_for(1, 1.0), nanoseconds(1250ms));
  EXPECT_EQ(p.delay_for(10, 1.0), nanoseconds(5000ms));  // never above the cap
  for (int i = 0; i < 1000; ++i) {
    const auto d = p.delay_for(1);
    EXPECT_GE(d, nanoseconds(750ms));
    EXPECT_LE(d, nanoseconds(1250ms));
  }
}

TEST(RetryPolicy, ValidateNamesTheField) {
  db::RetryPolicy p;
  p.max_retries = -1;
  try {
    p.validate();
    FAIL();
  } catch (const db::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("max_retries"), std::string::npos);
  }
  p = {};
  p.jitter = 2;
  EXPECT_THROW(p.validate(), db::InvalidArgument);
  p = {};
  p.multiplier = 0.5;
  EXPECT_THROW(p.validate(), db::InvalidArgument);
}

TEST(DbRetry, RetriesTransientErrorsWithBackoffThenSucceeds) {
  Recorder r;
  int calls = 0;
  const int v = db::db_retry("op", r.policy(), [&] {
    if (++calls < 3) throw db::DeadlockError("deadlock detected");
    return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.delays, (std::vector<nanoseconds>{500ms, 1000ms}));
}

TEST(DbRetry, GivesUpAfterMaxRetries) {
  Recorder r;
  int calls = 0;
  EXPECT_THROW(db::db_retry("op", r.policy(),
                            [&] {
                              ++calls;
                              throw db::SerializationError("x");
                            }),
               db::SerializationError);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(r.delays, (std::vector<nanoseconds>{500ms, 1000ms, 2000ms}));
}

TEST(DbRetry, ZeroRetriesCallsOnce) {
  Recorder r;
  int calls = 0;
  EXPECT_THROW(db::db_retry("op", r.policy(0),
                            [&] {
                              ++calls;
                              throw db::ConnectionError("gone");
                            }),
               db::ConnectionError);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(r.delays.empty());
}

TEST(DbRetry, NonTransientErrorsAreNotRetried) {
  Recorder r;
  int calls = 0;
  EXPECT_THROW(db::db_retry("op", r.policy(),
                            [&] {
                              ++calls;
                              throw db::IntegrityError("dup");
                            }),
               db::IntegrityError);
  EXPECT_THROW(db::db_retry("op", r.policy(),
                            [&] {
                              ++calls;
                              throw db::CommitInDoubt("?");
                            }),
               db::CommitInDoubt);
  EXPECT_THROW(db::db_retry("op", r.policy(),
                            [&] {
                              ++calls;
                              throw std::logic_error("bug");
                            }),
               std::logic_error);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(r.delays.empty());
}

TEST(DbRetry, VoidFunctionsWork) {
  Recorder r;
  int calls = 0;
  db::db_retry("op", r.policy(), [&] {
    if (++calls == 1) throw db::LockNotAvailableError("lock timeout");
  });
  EXPECT_EQ(calls, 2);
}

TEST(DbRetry, LogsLikeTheSeed) {
  LogSink log;
  Recorder r;
  int calls = 0;
  EXPECT_THROW(db::db_retry("get_video_by_id", r.policy(),
                            [&]() -> int {
                              ++calls;
                              throw db::ConnectionError("connection reset");
                            }),
               db::ConnectionError);
  const std::string out = log.out.str();
  EXPECT_NE(out.find("warning|Transient database error in get_video_by_id "
                     "(attempt 1/4): connection reset. Retrying in 0.50s..."),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(attempt 2/4): connection reset. Retrying in 1.00s..."),
            std::string::npos);
  EXPECT_NE(out.find("(attempt 3/4): connection reset. Retrying in 2.00s..."),
            std::string::npos);
  EXPECT_NE(out.find("error|Database operation failed (non-retryable or max "
                     "retries reached): get_video_by_id, attempt 4/4, error: "
                     "connection reset"),
            std::string::npos)
      << out;
}

TEST(DbRetry, LogsNonRetryableFailureOnce) {
  LogSink log;
  Recorder r;
  EXPECT_THROW(db::db_retry("create_channel", r.policy(),
                            []() -> int { throw db::IntegrityError("dup"); }),
               db::IntegrityError);
  const std::string out = log.out.str();
  EXPECT_EQ(out.find("warning|"), std::string::npos);
  EXPECT_NE(
      out.find("error|Database operation failed (non-retryable or max "
               "retries reached): create_channel, attempt 1/4, error: dup"),
      std::string::npos)
      << out;
}

// Settings that pass validate() must not overflow into nonsense.
TEST(RetryPolicy, MaxDelayOfMaxMeansNoCapAndNeverNegative) {
  db::RetryPolicy p;
  p.max_delay = std::chrono::milliseconds::max();
  EXPECT_EQ(p.delay_for(0), nanoseconds(500ms));
  EXPECT_EQ(p.delay_for(4), nanoseconds(8000ms));  // no 5 s cap any more
  // Far out, the delay saturates at the longest sleep there is.
  EXPECT_EQ(p.delay_for(200), nanoseconds::max());
  p.jitter = 1.0;
  EXPECT_GE(p.delay_for(200, 0.0).count(), 0);
  EXPECT_EQ(p.delay_for(200, 0.999), nanoseconds::max());
}

TEST(RetryPolicy, ExtremeMultipliersAndInitialDelaysStayInRange) {
  db::RetryPolicy p;
  p.initial_delay = 0ms;
  p.multiplier = 1e308;
  p.max_delay = std::chrono::milliseconds::max();
  EXPECT_EQ(p.delay_for(5), nanoseconds(0));  // 0 * inf is still no delay
  p.initial_delay = std::chrono::milliseconds::max();
  p.multiplier = 1.0;
  EXPECT_EQ(p.delay_for(0), nanoseconds::max());
  p.initial_delay = 1ms;
  p.multiplier = 1e308;
  p.max_delay = 3s;
  EXPECT_EQ(p.delay_for(3), nanoseconds(3s));
}

TEST(DbRetry, IntMaxRetriesMeansRetryingUntilItWorks) {
  Recorder r;
  int calls = 0;
  const int v =
      db::db_retry("op", r.policy(std::numeric_limits<int>::max()), [&] {
        if (++calls <= 5) throw db::ConnectionError("gone");
        return 7;
      });
  EXPECT_EQ(v, 7);
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(r.delays.size(), 5u);
}
