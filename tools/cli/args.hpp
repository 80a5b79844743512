#pragma once
// What a command declares (OptionSpec) and what it gets (ParsedArgs). The
// parsing itself is CLI11's (command_line.cpp): GNU-style long options
// ("--limit 5", "--limit=5"), "--" ends options, everything else is a
// positional argument.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
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

  [[nodiscard]] std::optional<std::string> value(std::string_view name) const;
  [[nodiscard]] bool flag(std::string_view name) const;
};

/// Parses a whole decimal number in [min, max]; throws UsageError naming
/// `what` otherwise (a number with trailing junk is not a number).
std::int64_t parse_integer(std::string_view text, std::string_view what,
                           std::int64_t min, std::int64_t max);

}  // namespace soundhash::cli
