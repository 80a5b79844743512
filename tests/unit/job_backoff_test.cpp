// JobBackoff: the delays fail_job schedules (pure arithmetic).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
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

TEST(JobBackoff, JitterTakesARandomPartOffTheWait) {
  const db::JobBackoff full{.initial = 1s, .max = 10s, .jitter = 1.0};
  EXPECT_EQ(full.delay(2), 4s) << "delay(retries) is the longest wait";
  EXPECT_EQ(full.delay(2, 0.0), 4s);
  EXPECT_EQ(full.delay(2, 0.25), 3s);
  EXPECT_EQ(full.delay(2, 0.999999), 0ms);
  const db::JobBackoff half{.initial = 1s, .max = 10s, .jitter = 0.5};
  EXPECT_EQ(half.delay(2, 0.5), 3s);
  EXPECT_EQ(half.delay(2, 0.999999), 2s);
  const db::JobBackoff none{.initial = 1s, .max = 10s};
  EXPECT_EQ(none.delay(2, 0.7), 4s) << "no jitter by default";
}

// A burst of failures must come back spread over the window, not as a burst:
// full jitter draws the wait uniformly from [0, d].
TEST(JobBackoff, FullJitterIsUniformOverTheWait) {
  const db::JobBackoff b{.initial = 10s, .max = 10s, .jitter = 1.0};
  std::mt19937_64 rng{20261205};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  constexpr int kDraws = 20000;
  constexpr int kBins = 10;
  int bins[kBins] = {};
  double sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    const auto d = b.delay(3, unit(rng));
    ASSERT_GE(d, 0ms);
    ASSERT_LE(d, 10s);
    sum += static_cast<double>(d.count());
    ++bins[std::min<std::int64_t>(d.count() / 1000, kBins - 1)];
  }
  EXPECT_NEAR(sum / kDraws, 5000.0, 100.0) << "mean of U[0, 10 s]";
  // Each tenth of the window holds about a tenth of the draws (binomial sd
  // about 42 of 2000).
  for (int k = 0; k < kBins; ++k) {
    EXPECT_NEAR(bins[k], kDraws / kBins, 200) << "bin " << k;
  }
}

TEST(JobBackoff, PartialJitterStaysInItsBand) {
  const db::JobBackoff b{.initial = 8s, .max = 8s, .jitter = 0.25};
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  auto lo = 8s, hi = 0s;
  for (int i = 0; i < 5000; ++i) {
    const auto d = b.delay(0, unit(rng));
    lo = std::min(lo, std::chrono::duration_cast<std::chrono::seconds>(d));
    ASSERT_GE(d, 6s);
    ASSERT_LE(d, 8s);
    hi = std::max(hi, std::chrono::ceil<std::chrono::seconds>(d));
  }
  EXPECT_EQ(lo, 6s) << "the band's low end is reached";
  EXPECT_EQ(hi, 8s);
}
