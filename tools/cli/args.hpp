#pragma once
// Command-line parsing: GNU-style long options ("--limit 5", "--limit=5"),
// "--" ends options, and everything else is a positional argument. Kept
// tiny on purpose: the tool has a handful of options, not a grammar.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace soundhash::cli {

/// One option a command accepts.
struct OptionSpec {
  std::string_view name;     ///< "--limit"
  std::string_view alias;    ///< "-v", or empty
  std::string_view metavar;  ///< "N" for an option with a value; empty: a flag
  std::string_view help;
};

struct ParsedArgs {
  std::vector<std::string> positionals;
  /// Option values by long name; a repeated option keeps its last value.
  std::map<std::string, std::string, std::less<>> values;
  std::set<std::string, std::less<>> flags;
  bool help = false;  ///< -h or --help was given
  /// How many arguments were consumed (see parse_args' stop_at_positional).
  std::size_t consumed = 0;

  [[nodiscard]] std::optional<std::string> value(std::string_view name) const;
  [[nodiscard]] bool flag(std::string_view name) const;
};

/// Parses `args` against `options` (plus -h/--help). Throws UsageError for an
/// unknown option or a missing value. With `stop_at_positional`, stops before
/// the first positional argument (to read options that precede a command).
ParsedArgs parse_args(std::span<const std::string> args,
                      std::span<const OptionSpec> options,
                      bool stop_at_positional = false);

/// Parses a whole decimal number in [min, max]; throws UsageError naming
/// `what` otherwise (a number with trailing junk is not a number).
std::int64_t parse_integer(std::string_view text, std::string_view what,
                           std::int64_t min, std::int64_t max);

}  // namespace soundhash::cli
