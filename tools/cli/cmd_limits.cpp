// `soundhash-db limits list|set|clear`: concurrency limits per job type
// (JobRepository::set_type_limit and friends).

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

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
    {"--per-key", "", "N",
     "at most N jobs of TYPE with one concurrency key run at once"},
};

constexpr OptionSpec kClearOptions[] = {
    {"--per-key", "", "", "remove TYPE's per-key limit instead"},
};

int run_limits_list(const Invocation& inv) {
  db::Database database{inv.context.effective};
  const auto [all, per_key] = needing_schema([&] {
    return database.transact([](db::Session& s) {
      db::JobRepository jobs{s};
      return std::pair{jobs.list_type_limits(), jobs.list_key_limits()};
    });
  });
  if (all.empty() && per_key.empty()) {
    fmt::print("no limits\n");
    return kExitOk;
  }
  if (!all.empty()) {
    Table t({"type", "max running", "running"}, {false, true, true});
    for (const auto& l : all) {
      t.add_row({l.job_type, std::to_string(l.max_running),
                 std::to_string(l.running)});
    }
    t.print(stdout);
  }
  if (!per_key.empty()) {
    if (!all.empty()) fmt::print("\n");
    Table t(
        {"type", "max running per key", "running with a key", "busiest key"},
        {false, true, true, true});
    for (const auto& l : per_key) {
      t.add_row({l.job_type, std::to_string(l.max_running_per_key),
                 std::to_string(l.running),
                 std::to_string(l.busiest_key_running)});
    }
    t.print(stdout);
  }
  return kExitOk;
}

// `limits set TYPE --per-key N`: the per-key limit alone.
int run_key_limit_set(const Invocation& inv, const std::string& per_key) {
  const auto& type = inv.args.positionals[0];
  if (inv.args.positionals.size() > 1) {
    throw UsageError("give MAX_RUNNING or --per-key N, not both");
  }
  const auto n = static_cast<std::int32_t>(parse_integer(
      per_key, "--per-key", 1, std::numeric_limits<std::int32_t>::max()));
  db::Database database{inv.context.effective};
  needing_schema([&] {
    database.transact([&](db::Session& s) {
      db::JobRepository{s}.set_key_limit(type, n, inv.args.flag("--new-type"));
    });
  });
  fmt::print("{} limited to {} running per key\n", printable(type), n);
  return kExitOk;
}

int run_limits_set(const Invocation& inv) {
  if (auto per_key = inv.args.value("--per-key")) {
    return run_key_limit_set(inv, *per_key);
  }
  if (inv.args.positionals.size() < 2) throw UsageError("missing MAX_RUNNING");
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
  if (inv.args.flag("--per-key")) {
    const bool cleared = needing_schema([&] {
      return database.transact([&](db::Session& s) {
        return db::JobRepository{s}.clear_key_limit(type);
      });
    });
    if (!cleared) {
      throw Failure(fmt::format("{} has no per-key limit", printable(type)));
    }
    fmt::print("{} unlimited per key\n", printable(type));
    return kExitOk;
  }
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
          "jobs run now; then each per-key limit with how many of the type's\n"
          "jobs with a key run and how many share the busiest key;\n"
          "or \"no limits\". Exits 0.",
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
      .synopsis =
          "TYPE MAX_RUNNING [--new-type] | TYPE --per-key N [--new-type]",
      .summary = "limit how many jobs of a type run at once",
      .description =
          "Never more than MAX_RUNNING jobs of TYPE run at once, across every\n"
          "worker and process (0 pauses the type); replaces an earlier limit.\n"
          "Running jobs beyond a lowered limit finish. A type that has no\n"
          "job, schedule or limit is refused as a likely typo (exit 2) unless\n"
          "--new-type is given. With --per-key N instead of MAX_RUNNING: "
          "never\n"
          "more than N (>= 1) jobs of TYPE with one concurrency key run at\n"
          "once (jobs without a key are not counted); a claim passes over the\n"
          "jobs of a key at its limit and takes the next ones.",
      .options = kSetOptions,
      .min_positionals = 1,
      .max_positionals = 2,
      .run = run_limits_set,
  };
  return kCommand;
}

const Command& limits_clear_command() {
  static const Command kCommand{
      .name = "limits clear",
      .synopsis = "TYPE [--per-key]",
      .summary = "remove a job type's concurrency limit",
      .description =
          "Removes TYPE's limit: its jobs run as wide as the workers allow.\n"
          "Exits 1 if TYPE has no limit. With --per-key, removes its per-key\n"
          "limit instead.",
      .options = kClearOptions,
      .min_positionals = 1,
      .max_positionals = 1,
      .run = run_limits_clear,
  };
  return kCommand;
}

}  // namespace soundhash::cli
