// JobRepository's periodic jobs: storing schedules, and creating each due
// period's job exactly once (sql/schedules.hpp says how).

#include "sql/schedules.hpp"

#include <spdlog/logger.h>

#include "checks.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {

namespace {

// A row of kUpsertSchedule / kListSchedules.
JobSchedule read_schedule(const Row& row) {
  JobSchedule s;
  s.name = row[0].as<std::string>();
  s.expression = row[1].as<std::string>();
  s.job.job_type = row[2].as<std::string>();
  s.job.target_id = row[3].as<std::string>();
  s.job.parameters = row[4].as<std::optional<std::string>>();
  s.job.priority = row[5].as<std::int32_t>();
  s.job.max_retries = row[6].as<std::int32_t>();
  s.job.delay = std::chrono::milliseconds{row[7].as<std::int64_t>()};
  s.next_run_at = row[8].as<Timestamp>();
  s.last_enqueued_at = row[9].as<std::optional<Timestamp>>();
  s.created_at = row[10].as<Timestamp>();
  s.updated_at = row[11].as<Timestamp>();
  if (const auto ms = row[12].as<std::optional<std::int64_t>>()) {
    s.job.timeout = std::chrono::milliseconds{*ms};
  }
  s.job.concurrency_key = row[13].as<std::optional<std::string>>();
  return s;
}

namespace sql = detail::sql;

void require_name(std::string_view op, std::string_view name) {
  detail::require_id(op, "name", name);
  detail::require_text(op, "name", name);
  if (name.size() > 200) {
    throw InvalidArgument(std::string(op) +
                          ": name must be at most 200 characters");
  }
}

}  // namespace

JobSchedule JobRepository::upsert_schedule(std::string_view name,
                                           std::string_view expression,
                                           const NewJob& job) {
  constexpr std::string_view op = "upsert_schedule";
  require_name(op, name);
  detail::require_new_job(op, job);
  const auto schedule = Schedule::parse(expression);
  return session_.call(op, [&] {
    const auto before = session_.read(sql::kBeforeUpsertSchedule, name).one();
    const auto now = before[0].as<Timestamp>();
    const auto old = before[1].as<std::optional<std::string>>();
    auto saved = read_schedule(
        session_
            .execute_final(
                sql::kUpsertSchedule, name, schedule.expression(), job.job_type,
                job.target_id, job.parameters, job.priority, job.max_retries,
                job.delay.count(), schedule.next_after(now),
                job.timeout ? std::optional<std::int64_t>(job.timeout->count())
                            : std::nullopt,
                job.concurrency_key)
            .one());
    logger().info("Schedule {} {}: \"{}\" creates {} for {}", saved.name,
                  !old                       ? "created"
                  : *old == saved.expression ? "replaced, same rhythm"
                                             : "replaced",
                  saved.expression, saved.job.job_type, saved.job.target_id);
    return saved;
  });
}

bool JobRepository::delete_schedule(std::string_view name) {
  constexpr std::string_view op = "delete_schedule";
  require_name(op, name);
  return session_.call(op, [&] {
    return !session_.execute_final(sql::kDeleteSchedule, name).empty();
  });
}

std::vector<JobSchedule> JobRepository::list_schedules() {
  return session_.call("list_schedules", [&] {
    std::vector<JobSchedule> out;
    for (const auto& row : session_.read(sql::kListSchedules)) {
      out.push_back(read_schedule(row));
    }
    return out;
  });
}

std::vector<ProcessingJob> JobRepository::enqueue_due_schedules(
    int max_schedules) {
  constexpr std::string_view op = "enqueue_due_schedules";
  detail::require_limit(op, max_schedules);
  return session_.call(op, [&]() -> std::vector<ProcessingJob> {
    std::vector<std::string> names;
    std::vector<Timestamp> was, next;
    for (const auto& row : session_.read(sql::kDueSchedules, max_schedules)) {
      auto name = row[0].as<std::string>();
      try {
        const auto now = row[3].as<Timestamp>();
        next.push_back(
            Schedule::parse(row[1].as<std::string>()).next_after(now));
      } catch (const InvalidSchedule& e) {
        // Written past our checks (by hand): skip it, keep the others.
        logger().error("Schedule {} skipped: {}", name, e.what());
        continue;
      }
      names.push_back(std::move(name));
      was.push_back(row[2].as<Timestamp>());
    }
    if (names.empty()) return {};
    auto jobs =
        session_.execute_final(sql::kEnqueueDueSchedules, names, was, next)
            .as_vector<ProcessingJob>();
    for (const auto& j : jobs) {
      logger().info("Scheduled job created: type={}, target={}, id={}",
                    j.job_type, j.target_id, j.id);
    }
    return jobs;
  });
}

}  // namespace soundhash::db
