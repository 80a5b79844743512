#include "soundhash/db/read_options.hpp"

#include <charconv>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {

std::string CommitToken::to_string() const {
  char buf[32];
  const auto hi = static_cast<std::uint32_t>(lsn >> 32);
  const auto lo = static_cast<std::uint32_t>(lsn);
  auto end = std::to_chars(buf, buf + 16, hi, 16).ptr;
  *end++ = '/';
  end = std::to_chars(end, buf + sizeof buf, lo, 16).ptr;
  std::string out(buf, end);
  for (char& c : out) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

CommitToken CommitToken::parse(std::string_view text) {
  const auto slash = text.find('/');
  std::uint32_t hi = 0, lo = 0;
  auto half = [](std::string_view s, std::uint32_t& out) {
    if (s.empty() || s.size() > 8) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (slash == std::string_view::npos || !half(text.substr(0, slash), hi) ||
      !half(text.substr(slash + 1), lo)) {
    throw InvalidArgument("CommitToken: \"" + std::string(text) +
                          "\" is not a WAL position like 16/B374D848");
  }
  return CommitToken{(std::uint64_t{hi} << 32) | lo};
}

}  // namespace soundhash::db
