#include "format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <ctime>

namespace soundhash::cli {
namespace {

// Display width of `s`: one column per UTF-8 code point (good enough for
// ids and type names; wide CJK characters will misalign, nothing worse).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

std::string iso8601_utc(db::Timestamp t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return "?";
  char buf[32];
  const std::size_t n =
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\n' || text[i] == '\r' || text[i] == '\t' ||
        text[i] == ' ') {
      std::size_t j = i;
      bool breaks = false;
      while (j < text.size() && (text[j] == '\n' || text[j] == '\r' ||
                                 text[j] == '\t' || text[j] == ' ')) {
        breaks = breaks || text[j] == '\n' || text[j] == '\r';
        ++j;
      }
      out += breaks ? std::string_view(" ") : text.substr(i, j - i);
      i = j;
    } else {
      out += text[i++];
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return printable(out);
}

std::string age(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds < 0 ? 0 : seconds);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string micros(std::chrono::nanoseconds d) {
  return fmt::format(
      "{} µs",
      std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

Table::Table(std::vector<std::string> header, std::vector<bool> right_aligned)
    : right_(std::move(right_aligned)) {
  right_.resize(header.size(), false);
  rows_.push_back(std::move(header));
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(rows_[0].size());
  for (auto& c : cells) c = printable(c);
  rows_.push_back(std::move(cells));
}

void Table::print(std::FILE* out) const {
  std::vector<std::size_t> widths(rows_[0].size(), 0);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], width(row[c]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(widths[c] - width(row[c]), ' ');
      const bool last = c + 1 == row.size();
      if (c > 0) line += "  ";
      if (right_[c]) {
        line += pad + row[c];
      } else {
        line += row[c];
        if (!last) line += pad;  // no trailing blanks
      }
    }
    fmt::print(out, "{}\n", line);
  }
}

}  // namespace soundhash::cli
