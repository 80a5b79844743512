// JobBackoff: the delays fail_job schedules (pure arithmetic).
#include <gtest/gtest.h>

#include <soundhash/db/job_repository.hpp>

namespace db = soundhash::db;
using namespace std::chrono_literals;

TEST(JobBackoff, GrowsByTheMultiplierUpToMax) {
  const db::JobBackoff b{1s, 10s, 3.0};
  EXPECT_EQ(b.delay(0), 1s);
  EXPECT_EQ(b.delay(1), 3s);
  EXPECT_EQ(b.delay(2), 9s);
  EXPECT_EQ(b.delay(3), 10s);
  EXPECT_EQ(b.delay(1000000), 10s) << "no overflow for absurd retry counts";
}

TEST(JobBackoff, DefaultsAreTenSecondsDoublingToAnHour) {
  const db::JobBackoff b;
  EXPECT_EQ(b.delay(0), 10s);
  EXPECT_EQ(b.delay(1), 20s);
  EXPECT_EQ(b.delay(20), std::chrono::milliseconds(1h));
}

TEST(JobBackoff, ConstantAndZeroBackoffs) {
  EXPECT_EQ((db::JobBackoff{5s, 5s, 1.0}.delay(7)), 5s);
  EXPECT_EQ((db::JobBackoff{0ms, 0ms, 2.0}.delay(3)), 0ms);
}
