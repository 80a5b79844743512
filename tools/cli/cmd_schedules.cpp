// `soundhash-db schedules list|set|delete`: the periodic jobs stored in the
// database (JobRepository::upsert_schedule and friends).

#include <fmt/format.h>

#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "new_job_options.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/schedule.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kSetOptions[] = {
    {"--params", "", "JSON", "each job's parameters (text, usually JSON)"},
    {"--priority", "", "N", "claim order: lower runs first (default 0)"},
    {"--delay", "", "SECONDS",
     "each job runs SECONDS after its period's time (default 0)"},
    {"--max-retries", "", "N",
     "how often a failure sends a job back to pending (default 3)"},
    {"--timeout", "", "SECONDS",
     "each job's attempt fails after running SECONDS (default: no limit)"},
};

int run_schedules_list(const Invocation& inv) {
  db::Database database{inv.context.effective};
  const auto all = needing_schema([&] {
    return database.transact(
        [](db::Session& s) { return db::JobRepository{s}.list_schedules(); });
  });
  if (all.empty()) {
    fmt::print("no schedules\n");
    return kExitOk;
  }
  Table t({"name", "schedule", "type", "target", "next run (UTC)",
           "last enqueued (UTC)", "timeout"});
  for (const auto& s : all) {
    t.add_row({s.name, s.expression, s.job.job_type, s.job.target_id,
               iso8601_utc(s.next_run_at),
               s.last_enqueued_at ? iso8601_utc(*s.last_enqueued_at) : "-",
               s.job.timeout
                   ? age(static_cast<double>(s.job.timeout->count()) / 1000.0)
                   : "-"});
  }
  t.print(stdout);
  return kExitOk;
}

int run_schedules_set(const Invocation& inv) {
  const auto& pos = inv.args.positionals;
  // Checked before connecting: a malformed expression is a usage error.
  try {
    db::Schedule::parse(pos[1]);
  } catch (const db::InvalidSchedule& e) {
    throw UsageError(e.what());
  }
  db::NewJob job;
  job.job_type = pos[2];
  job.target_id = pos[3];
  read_new_job_options(inv.args, job);
  db::Database database{inv.context.effective};
  const auto saved = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      return db::JobRepository{s}.upsert_schedule(pos[0], pos[1], job);
    });
  });
  fmt::print("schedule {} set: \"{}\", next run {}\n", printable(saved.name),
             saved.expression, iso8601_utc(saved.next_run_at));
  return kExitOk;
}

int run_schedules_delete(const Invocation& inv) {
  const auto& name = inv.args.positionals[0];
  db::Database database{inv.context.effective};
  const bool deleted = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      return db::JobRepository{s}.delete_schedule(name);
    });
  });
  if (!deleted) throw Failure(fmt::format("no schedule {}", printable(name)));
  fmt::print("deleted schedule {}\n", printable(name));
  return kExitOk;
}

}  // namespace

const Command& schedules_list_command() {
  static const Command kCommand{
      .name = "schedules list",
      .synopsis = "",
      .summary = "show the periodic jobs' schedules",
      .description =
          "Prints every schedule by name: its expression, the job it creates\n"
          "(type, target), when it next creates one and when it last did "
          "(UTC),\n"
          "and each job's timeout (\"-\": none), or \"no schedules\". Exits "
          "0.",
      .options = {},
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_schedules_list,
  };
  return kCommand;
}

const Command& schedules_set_command() {
  static const Command kCommand{
      .name = "schedules set",
      .synopsis =
          "NAME EXPRESSION TYPE TARGET [--params JSON] [--priority N] "
          "[--delay SECONDS] [--max-retries N] [--timeout SECONDS]",
      .summary = "create or replace a periodic job's schedule",
      .description =
          "Stores schedule NAME: each time EXPRESSION fires, a job of TYPE "
          "for\n"
          "TARGET is created (by a running Worker, once per period however\n"
          "many run). EXPRESSION is 5-field cron in UTC (\"30 2 * * *\"), a\n"
          "macro (@hourly, @daily, @weekly, @monthly, @yearly) or an interval\n"
          "(\"@every 30s\", \"@every 1h30m\"); quote it. Replacing a schedule\n"
          "with the same expression keeps its next run. A malformed\n"
          "expression exits 2 and changes nothing. Prints the next run.\n"
          "With --timeout, each job's attempt that runs longer than SECONDS\n"
          "is failed by its heartbeat (through the retry budget).",
      .options = kSetOptions,
      .min_positionals = 4,
      .max_positionals = 4,
      .run = run_schedules_set,
  };
  return kCommand;
}

const Command& schedules_delete_command() {
  static const Command kCommand{
      .name = "schedules delete",
      .synopsis = "NAME",
      .summary = "delete a periodic job's schedule",
      .description =
          "Deletes schedule NAME; jobs it already created stay. Exits 1 if\n"
          "there is no such schedule.",
      .options = {},
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_schedules_delete,
  };
  return kCommand;
}

}  // namespace soundhash::cli
