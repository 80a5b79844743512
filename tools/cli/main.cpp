// soundhash-db: command-line tool over the soundhash-db library.
//
//   soundhash-db [GLOBAL OPTIONS] COMMAND [ARGS...]
//
// This file has the command line parsed (command_line.cpp), runs the command
// and turns whatever it throws into one line on stderr and an exit code (see
// cli.hpp), so the commands themselves only deal with their own work.

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "cli.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "help.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/version.hpp"

namespace soundhash::cli {
namespace {

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
  try {
    const CommandLine line = parse_command_line(args);
    switch (line.action) {
      case CommandLine::Action::main_help:
        print_main_help(stdout);
        return kExitOk;
      case CommandLine::Action::group_help:
        print_group_help(stdout, line.group);
        return kExitOk;
      case CommandLine::Action::command_help:
        print_command_help(stdout, *line.command);
        return kExitOk;
      case CommandLine::Action::version:
        fmt::print("soundhash-db {}.{}.{}\n", SOUNDHASH_DB_VERSION_MAJOR,
                   SOUNDHASH_DB_VERSION_MINOR, SOUNDHASH_DB_VERSION_PATCH);
        return kExitOk;
      case CommandLine::Action::run:
        break;
    }
    where = line.command->name;
    const Globals globals = read_globals(line.args);
    setup_logging(globals.verbose);
    const Context context = make_context(globals);
    return line.command->run({line.args, context});
  } catch (const CommandLineError& e) {
    report(e.where(),
           fmt::format("{} (see 'soundhash-db {}{}--help')", e.what(),
                       e.topic(), e.topic().empty() ? "" : " "));
    return kExitUsage;
  } catch (const UsageError& e) {
    report(where,
           fmt::format("{} (see 'soundhash-db {} --help')", e.what(), where));
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
