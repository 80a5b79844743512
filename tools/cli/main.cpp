// soundhash-db: command-line tool over the soundhash-db library.
//
//   soundhash-db [GLOBAL OPTIONS] COMMAND [ARGS...]
//
// This file finds the command, parses its arguments and turns whatever it
// throws into one line on stderr and an exit code (see cli.hpp), so the
// commands themselves only deal with their own work.

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "args.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "help.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/version.hpp"

namespace soundhash::cli {
namespace {

// Options that may come before the command: the global ones and --version.
std::vector<OptionSpec> leading_options() {
  std::vector<OptionSpec> v(global_options().begin(), global_options().end());
  v.push_back({"--version", "", "", ""});
  return v;
}

std::vector<OptionSpec> command_options(const Command& c) {
  std::vector<OptionSpec> v(c.options.begin(), c.options.end());
  v.insert(v.end(), global_options().begin(), global_options().end());
  return v;
}

// The command named by `words` ("status", or "jobs" "list"), and how many
// words its name took. Returns nullptr for "GROUP --help"; on a usage error
// about a group, sets `group` so that the error points at its help.
const Command* find_command(std::span<const std::string> words,
                            std::size_t& name_words, std::string& group) {
  for (const auto* c : all_commands()) {
    const bool grouped = c->name.find(' ') != std::string_view::npos;
    if (!grouped && words[0] == c->name) {
      name_words = 1;
      return c;
    }
    if (grouped && words.size() >= 2 &&
        fmt::format("{} {}", words[0], words[1]) == c->name) {
      name_words = 2;
      return c;
    }
  }
  // A group ("jobs"): name its subcommands in the error.
  const std::string prefix = words[0] + " ";
  std::string subcommands;
  for (const auto* c : all_commands()) {
    if (!c->name.starts_with(prefix)) continue;
    if (!subcommands.empty()) subcommands += ", ";
    subcommands += c->name.substr(prefix.size());
  }
  if (subcommands.empty()) {
    throw UsageError(fmt::format("unknown command '{}'", printable(words[0])));
  }
  group = words[0];
  if (words.size() < 2) {
    throw UsageError(
        fmt::format("{}: missing subcommand ({})", words[0], subcommands));
  }
  if (words[1] == "-h" || words[1] == "--help") return nullptr;
  throw UsageError(fmt::format("unknown command '{} {}' ({} has: {})", words[0],
                               printable(words[1]), words[0], subcommands));
}

// The name of positional argument `index` as the synopsis spells it
// ("TARGET" in "TYPE TARGET [--params JSON]").
std::string positional_name(const Command& c, std::size_t index) {
  std::size_t start = 0;
  for (std::size_t i = 0;; ++i) {
    const auto end = std::min(c.synopsis.find(' ', start), c.synopsis.size());
    const auto word = c.synopsis.substr(start, end - start);
    if (word.empty() || word.starts_with("[")) return "argument";
    if (i == index) return std::string(word);
    start = end + 1;
    if (start >= c.synopsis.size()) return "argument";
  }
}

void check_positionals(const Command& c, const ParsedArgs& args) {
  const auto n = args.positionals.size();
  if (n < c.min_positionals) {
    throw UsageError(fmt::format("missing {}", positional_name(c, n)));
  }
  if (n > c.max_positionals) {
    throw UsageError(
        fmt::format("unexpected argument '{}'",
                    printable(args.positionals[c.max_positionals])));
  }
}

void report(std::string_view where, std::string_view message) {
  if (where.empty()) {
    fmt::print(stderr, "soundhash-db: {}\n", one_line(message));
  } else {
    fmt::print(stderr, "soundhash-db: {}: {}\n", where, one_line(message));
  }
}

std::string describe(const db::Error& e) {
  return e.detail().empty() ? e.what()
                            : fmt::format("{}: {}", e.what(), e.detail());
}

int run(std::span<const std::string> args) {
  std::string where;  // the command, once known: prefixes error lines
  std::string group;  // a command group named alone or with a bad subcommand
  try {
    const auto leading = leading_options();
    const ParsedArgs lead = parse_args(args, leading, true);
    if (lead.help) {
      print_main_help(stdout);
      return kExitOk;
    }
    if (lead.flag("--version")) {
      fmt::print("soundhash-db {}.{}.{}\n", SOUNDHASH_DB_VERSION_MAJOR,
                 SOUNDHASH_DB_VERSION_MINOR, SOUNDHASH_DB_VERSION_PATCH);
      return kExitOk;
    }
    const auto rest = args.subspan(lead.consumed);
    if (rest.empty()) throw UsageError("missing command");
    std::size_t name_words = 0;
    const Command* command = find_command(rest, name_words, group);
    if (command == nullptr) {
      print_group_help(stdout, rest[0]);
      return kExitOk;
    }
    where = command->name;
    const auto options = command_options(*command);
    const ParsedArgs parsed = parse_args(rest.subspan(name_words), options);
    if (parsed.help) {
      print_command_help(stdout, *command);
      return kExitOk;
    }
    check_positionals(*command, parsed);
    const Globals globals = read_globals(parsed, read_globals(lead));
    setup_logging(globals.verbose);
    const Context context = make_context(globals);
    return command->run({parsed, context});
  } catch (const UsageError& e) {
    const std::string& topic = where.empty() ? group : where;
    report(where, fmt::format("{} (see 'soundhash-db {}{}--help')", e.what(),
                              topic, topic.empty() ? "" : " "));
    return kExitUsage;
  } catch (const Failure& e) {
    report(where, e.what());
    return kExitFailure;
  } catch (const db::ConnectionError& e) {
    report(where, fmt::format("cannot connect: {}", e.what()));
    return kExitNoConnection;
  } catch (const db::PoolTimeout& e) {
    report(where, fmt::format("cannot connect: {}", e.what()));
    return kExitNoConnection;
  } catch (const db::InvalidArgument& e) {
    // Rejected before anything was sent: a bad setting or argument.
    report(where, e.what());
    return kExitUsage;
  } catch (const db::Error& e) {
    report(where, describe(e));
    return kExitFailure;
  } catch (const std::exception& e) {
    report(where, e.what());
    return kExitFailure;
  }
}

}  // namespace
}  // namespace soundhash::cli

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return soundhash::cli::run(args);
}
