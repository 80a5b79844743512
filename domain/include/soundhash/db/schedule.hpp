#pragma once
// Periodic jobs: when a schedule fires, and the schedules stored in the
// database (JobRepository::upsert_schedule, enqueue_due_schedules).
//
//   auto nightly = db::Schedule::parse("30 2 * * *");  // 02:30 UTC daily
//   auto often = db::Schedule::parse("@every 30s");
//
// The dialect is described in docs/guide/queue.md, "Periodic jobs".

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "soundhash/db/errors.hpp"
#include "soundhash/db/models.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db {

/// A malformed schedule expression, rejected before anything is sent.
class InvalidSchedule : public InvalidArgument {
 public:
  /// `expression` is the text that was rejected.
  InvalidSchedule(const std::string& message, std::string expression)
      : InvalidArgument(message), expression_(std::move(expression)) {}
  /// The rejected expression.
  [[nodiscard]] const std::string& expression() const noexcept {
    return expression_;
  }

 private:
  std::string expression_;
};

/// When a periodic job fires: 5-field cron (`minute hour day-of-month month
/// day-of-week`, in UTC), a macro (`@hourly`, `@daily`, ...) or an interval
/// (`@every 30s`, `@every 1h30m`; periods aligned to the Unix epoch).
class Schedule {
 public:
  /// Parses `expression`; throws InvalidSchedule saying what is wrong.
  static Schedule parse(std::string_view expression);

  /// The first firing time strictly after `t`. Cron times are whole
  /// minutes, interval times whole multiples of the interval since the
  /// epoch. Throws InvalidSchedule for a cron expression that never fires
  /// (e.g. "0 0 31 2 *").
  [[nodiscard]] Timestamp next_after(Timestamp t) const;

  /// The expression as given (trimmed).
  [[nodiscard]] const std::string& expression() const noexcept {
    return expression_;
  }
  /// The interval of an `@every` schedule; nullopt for cron.
  [[nodiscard]] std::optional<std::chrono::milliseconds> interval()
      const noexcept {
    if (every_.count() == 0) return std::nullopt;
    return every_;
  }

 private:
  Schedule() = default;

  std::string expression_;
  std::chrono::milliseconds every_{0};
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day-of-month field was "*"
  bool any_weekday_ = true;  // day-of-week field was "*"
};

/// A stored schedule (table job_schedules), as list_schedules returns it.
struct JobSchedule {
  std::string name;        ///< unique
  std::string expression;  ///< see Schedule
  /// The job each period creates; its run_at is the period's time plus its
  /// delay.
  NewJob job;
  /// When the next job is due to be created.
  Timestamp next_run_at{};
  /// When this schedule last created a job, and which.
  std::optional<Timestamp> last_enqueued_at;
  std::optional<std::int64_t> last_job_id;
  Timestamp created_at{};
  Timestamp updated_at{};
};

}  // namespace soundhash::db
