#pragma once
// Help texts, built from the Command descriptions so they cannot drift.

#include <cstdio>
#include <span>

#include "commands.hpp"

namespace soundhash::cli {

/// Every command, in the order `--help` lists them.
std::span<const Command* const> all_commands();

/// `soundhash-db --help`.
void print_main_help(std::FILE* out);
/// `soundhash-db jobs --help`.
void print_group_help(std::FILE* out, std::string_view group);
/// `soundhash-db COMMAND --help`.
void print_command_help(std::FILE* out, const Command& command);

}  // namespace soundhash::cli
