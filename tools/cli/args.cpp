#include "args.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "cli.hpp"

namespace soundhash::cli {
std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

bool ParsedArgs::flag(std::string_view name) const {
  return flags.contains(name);
}

std::int64_t parse_integer(std::string_view text, std::string_view what,
                           std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v < min || v > max) {
    const std::string range = max == std::numeric_limits<std::int64_t>::max()
                                  ? fmt::format(">= {}", min)
                                  : fmt::format("from {} to {}", min, max);
    throw UsageError(fmt::format("{}: expected a whole number {}, got '{}'",
                                 what, range, text));
  }
  return v;
}

}  // namespace soundhash::cli
