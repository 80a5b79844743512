#include "args.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "cli.hpp"

namespace soundhash::cli {
namespace {

const OptionSpec* find_option(std::span<const OptionSpec> options,
                              std::string_view name) {
  for (const auto& o : options) {
    if (o.name == name || (!o.alias.empty() && o.alias == name)) return &o;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

bool ParsedArgs::flag(std::string_view name) const {
  return flags.contains(name);
}

ParsedArgs parse_args(std::span<const std::string> args,
                      std::span<const OptionSpec> options,
                      bool stop_at_positional) {
  ParsedArgs out;
  bool options_ended = false;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "-" alone is a positional by convention (it usually means stdin).
    const bool looks_like_option = arg.size() > 1 && arg[0] == '-';
    if (options_ended || !looks_like_option) {
      if (stop_at_positional) break;
      out.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    const auto eq = arg.find('=');
    const std::string_view name = std::string_view(arg).substr(
        0, eq == std::string::npos ? arg.size() : eq);
    const OptionSpec* spec = find_option(options, name);
    if (spec == nullptr) {
      throw UsageError(fmt::format("unknown option '{}'", name));
    }
    const std::string key(spec->name);
    if (spec->metavar.empty()) {
      if (eq != std::string::npos) {
        throw UsageError(fmt::format("option '{}' takes no value", key));
      }
      out.flags.insert(key);
    } else if (eq != std::string::npos) {
      out.values[key] = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      out.values[key] = args[++i];
    } else {
      throw UsageError(
          fmt::format("option '{}' needs a value ({})", key, spec->metavar));
    }
  }
  out.consumed = i;
  return out;
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
