#pragma once
// Reading the command line: CLI11 parses it against the Command tables (see
// commands.hpp), so that a command's options are declared once, in its own
// cmd_*.cpp, and what a command does never sees the parser.

#include <span>
#include <string>

#include "args.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace soundhash::cli {

/// What the command line asks for.
struct CommandLine {
  enum class Action {
    run,           ///< run `command` with `args`
    main_help,     ///< soundhash-db --help
    group_help,    ///< soundhash-db jobs --help
    command_help,  ///< soundhash-db jobs list --help
    version,       ///< soundhash-db --version
  };
  Action action = Action::run;
  const Command* command = nullptr;  ///< with run and command_help
  std::string group;                 ///< with group_help: "jobs"
  /// The command's options, positionals and the global options, wherever
  /// they were given on the line.
  ParsedArgs args;
};

/// The command line is wrong. `where` is the command once known (it prefixes
/// the error line), `topic` what `--help` to point at ("", "jobs", ...).
class CommandLineError : public UsageError {
 public:
  CommandLineError(const std::string& message, std::string where,
                   std::string topic)
      : UsageError(message),
        where_(std::move(where)),
        topic_(std::move(topic)) {}
  [[nodiscard]] const std::string& where() const noexcept { return where_; }
  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }

 private:
  std::string where_;
  std::string topic_;
};

/// Parses `args` (argv without the program name). Throws CommandLineError
/// for an unknown command or option, a missing value or subcommand, or a
/// wrong number of positional arguments.
CommandLine parse_command_line(std::span<const std::string> args);

}  // namespace soundhash::cli
