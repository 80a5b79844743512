#pragma once
// The commands of soundhash-db. Each lives in its own cmd_*.cpp and is
// described by a Command: main.cpp parses and dispatches, help.cpp prints.

#include <cstddef>
#include <span>
#include <string_view>

#include "args.hpp"
#include "context.hpp"

namespace soundhash::cli {

/// What a command runs with: its parsed arguments and the Config.
struct Invocation {
  const ParsedArgs& args;
  const Context& context;
};

struct Command {
  std::string_view name;         ///< "jobs list"
  std::string_view synopsis;     ///< arguments, e.g. "ID [--force]"
  std::string_view summary;      ///< one line, for `soundhash-db --help`
  std::string_view description;  ///< paragraph(s), for `--help`
  std::span<const OptionSpec> options;
  std::size_t min_positionals;
  std::size_t max_positionals;
  /// Runs the command; returns the exit code or throws (see main.cpp).
  int (*run)(const Invocation&);
};

const Command& migrate_command();
const Command& status_command();
const Command& jobs_list_command();
const Command& jobs_enqueue_command();
const Command& jobs_retry_command();
const Command& jobs_rescue_command();
const Command& jobs_purge_command();
const Command& doctor_command();
const Command& match_command();
// cmd_schedules.cpp
const Command& schedules_list_command();
const Command& schedules_set_command();
const Command& schedules_delete_command();
// cmd_limits.cpp
const Command& limits_list_command();
const Command& limits_set_command();
const Command& limits_clear_command();
const Command& jobs_cancel_command();
const Command& jobs_show_command();

}  // namespace soundhash::cli
