#include "help.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace soundhash::cli {
namespace {

void print_options(std::FILE* out, std::span<const OptionSpec> options) {
  std::vector<std::string> left;
  std::size_t w = 0;
  for (const auto& o : options) {
    std::string s = o.alias.empty() ? std::string(o.name)
                                    : fmt::format("{}, {}", o.alias, o.name);
    if (!o.metavar.empty()) s += fmt::format(" {}", o.metavar);
    w = std::max(w, s.size());
    left.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < options.size(); ++i) {
    fmt::print(out, "  {:<{}}  {}\n", left[i], w, options[i].help);
  }
}

void print_environment(std::FILE* out) {
  fmt::print(out,
             "\nenvironment:\n"
             "  DATABASE_URL       connection string (empty: libpq's PG* "
             "variables)\n"
             "  SOUNDHASH_DB_*     pool and retry settings (see "
             "docs/cli.md)\n");
}

void print_exit_codes(std::FILE* out) {
  fmt::print(out,
             "\nexit codes: 0 ok, 1 database or operation error, 2 usage "
             "error, 3 cannot connect\n");
}

}  // namespace

std::span<const Command* const> all_commands() {
  static const Command* const kAll[] = {
      &migrate_command(),
      &status_command(),
      &jobs_list_command(),
      &jobs_enqueue_command(),
      &jobs_retry_command(),
      &jobs_rescue_command(),
      &jobs_purge_command(),
      &jobs_show_command(),
      &jobs_cancel_command(),
      &doctor_command(),
      &match_command(),
      // periodic jobs
      &schedules_list_command(),
      &schedules_set_command(),
      &schedules_delete_command(),
      // concurrency limits
      &limits_list_command(),
      &limits_set_command(),
      &limits_clear_command(),
  };
  return kAll;
}

void print_main_help(std::FILE* out) {
  fmt::print(out,
             "usage: soundhash-db [GLOBAL OPTIONS] COMMAND [ARGS...]\n\n"
             "Manage and inspect a SoundHash database.\n\ncommands:\n");
  std::size_t w = 0;
  for (const auto* c : all_commands()) w = std::max(w, c->name.size());
  for (const auto* c : all_commands()) {
    fmt::print(out, "  {:<{}}  {}\n", c->name, w, c->summary);
  }
  fmt::print(out, "\nglobal options (also accepted after the command):\n");
  std::vector<OptionSpec> options(global_options().begin(),
                                  global_options().end());
  options.push_back({"--help", "-h", "", "show help"});
  options.push_back({"--version", "", "", "show the version"});
  print_options(out, options);
  print_environment(out);
  print_exit_codes(out);
  fmt::print(out, "\n'soundhash-db COMMAND --help' describes a command.\n");
}

void print_group_help(std::FILE* out, std::string_view group) {
  fmt::print(out,
             "usage: soundhash-db {} SUBCOMMAND [ARGS...]\n\n"
             "subcommands:\n",
             group);
  std::size_t w = 0;
  for (const auto* c : all_commands()) w = std::max(w, c->name.size());
  for (const auto* c : all_commands()) {
    if (c->name.starts_with(fmt::format("{} ", group))) {
      fmt::print(out, "  {:<{}}  {}\n", c->name, w, c->summary);
    }
  }
}

void print_command_help(std::FILE* out, const Command& command) {
  fmt::print(out, "usage: soundhash-db {}{}{}\n\n{}\n", command.name,
             command.synopsis.empty() ? "" : " ", command.synopsis,
             command.description);
  if (!command.options.empty()) {
    fmt::print(out, "\noptions:\n");
    print_options(out, command.options);
  }
  fmt::print(out, "\nglobal options:\n");
  print_options(out, global_options());
  print_exit_codes(out);
}

}  // namespace soundhash::cli
