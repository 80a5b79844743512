// `soundhash-db limits list|set|clear`: concurrency limits per job type
// (JobRepository::set_type_limit and friends).

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kSetOptions[] = {
    {"--new-type", "", "",
     "limit a type that has no job, schedule or limit yet"},
};

int run_limits_list(const Invocation& inv) {
  db::Database database{inv.context.effective};
  const auto all = needing_schema([&] {
    return database.transact(
        [](db::Session& s) { return db::JobRepository{s}.list_type_limits(); });
  });
  if (all.empty()) {
    fmt::print("no limits\n");
    return kExitOk;
  }
  Table t({"type", "max running", "running"}, {false, true, true});
  for (const auto& l : all) {
    t.add_row(
        {l.job_type, std::to_string(l.max_running), std::to_string(l.running)});
  }
  t.print(stdout);
  return kExitOk;
}

int run_limits_set(const Invocation& inv) {
  const auto& type = inv.args.positionals[0];
  const auto max_running = static_cast<std::int32_t>(
      parse_integer(inv.args.positionals[1], "MAX_RUNNING", 0,
                    std::numeric_limits<std::int32_t>::max()));
  db::Database database{inv.context.effective};
  needing_schema([&] {
    database.transact([&](db::Session& s) {
      db::JobRepository{s}.set_type_limit(type, max_running,
                                          inv.args.flag("--new-type"));
    });
  });
  fmt::print("{} limited to {} running\n", printable(type), max_running);
  return kExitOk;
}

int run_limits_clear(const Invocation& inv) {
  const auto& type = inv.args.positionals[0];
  db::Database database{inv.context.effective};
  const bool cleared = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      return db::JobRepository{s}.clear_type_limit(type);
    });
  });
  if (!cleared) throw Failure(fmt::format("{} has no limit", printable(type)));
  fmt::print("{} unlimited\n", printable(type));
  return kExitOk;
}

}  // namespace

const Command& limits_list_command() {
  static const Command kCommand{
      .name = "limits list",
      .synopsis = "",
      .summary = "show the concurrency limits per job type",
      .description =
          "Prints each limited job type with its limit and how many of its\n"
          "jobs run now, or \"no limits\". Exits 0.",
      .options = {},
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_limits_list,
  };
  return kCommand;
}

const Command& limits_set_command() {
  static const Command kCommand{
      .name = "limits set",
      .synopsis = "TYPE MAX_RUNNING [--new-type]",
      .summary = "limit how many jobs of a type run at once",
      .description =
          "Never more than MAX_RUNNING jobs of TYPE run at once, across every\n"
          "worker and process (0 pauses the type); replaces an earlier limit.\n"
          "Running jobs beyond a lowered limit finish. A type that has no\n"
          "job, schedule or limit is refused as a likely typo (exit 2) unless\n"
          "--new-type is given.",
      .options = kSetOptions,
      .min_positionals = 2,
      .max_positionals = 2,
      .run = run_limits_set,
  };
  return kCommand;
}

const Command& limits_clear_command() {
  static const Command kCommand{
      .name = "limits clear",
      .synopsis = "TYPE",
      .summary = "remove a job type's concurrency limit",
      .description =
          "Removes TYPE's limit: its jobs run as wide as the workers allow.\n"
          "Exits 1 if TYPE has no limit.",
      .options = {},
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_limits_clear,
  };
  return kCommand;
}

}  // namespace soundhash::cli
