#include "soundhash/db/retry.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "soundhash/db/log.hpp"
#include "soundhash/db/observer.hpp"

namespace soundhash::db {

using std::chrono::nanoseconds;

nanoseconds RetryPolicy::delay_for(int retry, double unit_random) const {
  // In double nanoseconds, from the millisecond counts: converting a huge
  // setting (milliseconds::max() for "no cap") to nanoseconds would overflow.
  constexpr double kPerMs = 1e6;
  const double initial = static_cast<double>(initial_delay.count()) * kPerMs;
  const double cap = static_cast<double>(max_delay.count()) * kPerMs;
  // 0 * inf (a huge multiplier^retry) is no delay, not NaN.
  double d = initial > 0 ? initial * std::pow(multiplier, retry) : 0.0;
  if (!(d < cap)) d = cap;  // also catches inf
  if (jitter > 0) d *= 1.0 + jitter * (2.0 * unit_random - 1.0);
  d = std::clamp(d, 0.0, cap);
  // Saturate: the longest sleep there is, not a wrapped negative one.
  if (d >= static_cast<double>(nanoseconds::max().count())) {
    return nanoseconds::max();
  }
  return nanoseconds(static_cast<nanoseconds::rep>(d));
}

nanoseconds RetryPolicy::delay_for(int retry) const {
  if (jitter <= 0) return delay_for(retry, 0.5);
  thread_local std::minstd_rand rng{std::random_device{}()};
  return delay_for(retry, std::uniform_real_distribution<double>(0, 1)(rng));
}

void RetryPolicy::sleep(nanoseconds d) const {
  if (sleeper) {
    sleeper(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

void RetryPolicy::validate() const {
  if (max_retries < 0)
    throw InvalidArgument("RetryPolicy.max_retries must be >= 0");
  if (initial_delay.count() < 0)
    throw InvalidArgument("RetryPolicy.initial_delay must be >= 0");
  if (max_delay < initial_delay)
    throw InvalidArgument("RetryPolicy.max_delay must be >= initial_delay");
  if (!(multiplier >= 1.0) || !std::isfinite(multiplier))
    throw InvalidArgument(
        "RetryPolicy.multiplier must be a finite number >= 1");
  if (!(jitter >= 0.0 && jitter <= 1.0))
    throw InvalidArgument("RetryPolicy.jitter must be in [0, 1]");
}

namespace detail {

void log_retry(std::string_view op, long long attempt, long long attempts,
               const Error& error, nanoseconds delay, Observer* observer) {
  if (observer) {
    observer->on_retry({.operation = op,
                        .attempt = attempt,
                        .attempts = attempts,
                        .sqlstate = error.sqlstate(),
                        .delay = delay});
  }
  logger().warn(
      "Transient database error in {} (attempt {}/{}): {}. Retrying in "
      "{:.2f}s...",
      op, attempt, attempts, error.what(),
      std::chrono::duration<double>(delay).count());
}

void log_give_up(std::string_view op, long long attempt, long long attempts,
                 const std::exception& error) {
  logger().error(
      "Database operation failed (non-retryable or max retries reached): {}, "
      "attempt {}/{}, error: {}",
      op, attempt, attempts, error.what());
}

}  // namespace detail
}  // namespace soundhash::db
