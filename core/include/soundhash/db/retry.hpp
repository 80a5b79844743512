#pragma once
// Exponential backoff for transient failures.
//
//   auto n = db::db_retry("count_videos", policy, [&] { return run_query(); });
//
// `fn` is called; a `TransientError` from it is retried after a delay of
// initial_delay * multiplier^k (capped at max_delay, optionally jittered) until
// max_retries retries are spent. Anything else propagates at once.

#include <chrono>
#include <functional>
#include <string_view>
#include <type_traits>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {

class Observer;

/// How transient failures are retried. The defaults give 0.5s, 1s, 2s.
struct RetryPolicy {
  /// Retries after the first attempt; 0 disables retrying.
  int max_retries = 3;
  /// Delay before the first retry.
  std::chrono::milliseconds initial_delay{500};
  /// Upper bound of any delay; milliseconds::max() means no bound (delays
  /// saturate at nanoseconds::max()).
  std::chrono::milliseconds max_delay{5000};
  /// Each further retry waits this many times longer than the one before.
  double multiplier = 2.0;
  /// Fraction of randomness: a delay d becomes uniform in
  /// [d*(1-jitter), d*(1+jitter)], never above max_delay. 0 = deterministic.
  double jitter = 0.0;
  /// How to wait; empty means std::this_thread::sleep_for. Tests inject one.
  std::function<void(std::chrono::nanoseconds)> sleeper;

  /// Delay before retry number `retry` (0-based). `unit_random` in [0, 1)
  /// drives the jitter; it is ignored when jitter is 0.
  [[nodiscard]] std::chrono::nanoseconds delay_for(int retry,
                                                   double unit_random) const;
  /// Delay before retry number `retry`, drawing the jitter at random.
  [[nodiscard]] std::chrono::nanoseconds delay_for(int retry) const;
  /// Sleeps for `d` through `sleeper` (or really sleeps).
  void sleep(std::chrono::nanoseconds d) const;
  /// Throws InvalidArgument naming the field if the policy makes no sense.
  void validate() const;
};

namespace detail {
/// Logs a retry, and reports it to `observer` if there is one.
void log_retry(std::string_view op, long long attempt, long long attempts,
               const Error& error, std::chrono::nanoseconds delay,
               Observer* observer = nullptr);
void log_give_up(std::string_view op, long long attempt, long long attempts,
                 const std::exception& error);

/// db_retry, reporting each retry to `observer` (may be null).
template <class F>
auto retry_observed(std::string_view op_name, const RetryPolicy& policy,
                    Observer* observer, F&& fn) -> std::invoke_result_t<F&> {
  // In 64 bits: max_retries may be INT_MAX ("until it works").
  const long long attempts = static_cast<long long>(policy.max_retries) + 1;
  for (long long attempt = 1;; ++attempt) {
    try {
      return fn();
    } catch (const TransientError& e) {
      if (attempt >= attempts) {
        log_give_up(op_name, attempt, attempts, e);
        throw;
      }
      const auto delay = policy.delay_for(static_cast<int>(attempt - 1));
      log_retry(op_name, attempt, attempts, e, delay, observer);
      policy.sleep(delay);
    } catch (const std::exception& e) {
      log_give_up(op_name, attempt, attempts, e);
      throw;
    }
  }
}
}  // namespace detail

/// Calls `fn()`, retrying `TransientError`s per `policy`; returns what `fn`
/// returns. Logs each retry as WARN and the final failure as ERROR on the
/// "soundhash.db" logger. `fn` must be safe to call again: it is, when it is
/// a whole unit of work whose transaction was rolled back by the failure.
template <class F>
auto db_retry(std::string_view op_name, const RetryPolicy& policy, F&& fn)
    -> std::invoke_result_t<F&> {
  return detail::retry_observed(op_name, policy, nullptr, fn);
}

}  // namespace soundhash::db
