#pragma once
// Text output helpers: timestamps, tables, and making untrusted text safe to
// print on a terminal.

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/types.hpp"

namespace soundhash::cli {

/// "2024-05-01T12:34:56Z": ISO 8601 in UTC, whole seconds.
std::string iso8601_utc(db::Timestamp t);

/// `text` with control characters written as \xNN, so that a job's target id
/// cannot move the cursor or break a table row.
std::string printable(std::string_view text);

/// `text` on one line: runs of whitespace that contain a line break become
/// one space (libpq's messages span lines).
std::string one_line(std::string_view text);

/// A duration in whole microseconds, e.g. "183 µs".
std::string micros(std::chrono::nanoseconds d);

/// A duration to the second, compact: "45s", "4m05s", "2h03m", "3d04h".
std::string age(double seconds);

/// A plain-text table with a header row; columns are as wide as their widest
/// cell. Right-aligned columns are for numbers.
class Table {
 public:
  explicit Table(std::vector<std::string> header,
                 std::vector<bool> right_aligned = {});
  /// Adds a row; cells are made printable here.
  void add_row(std::vector<std::string> cells);
  void print(std::FILE* out) const;
  [[nodiscard]] bool empty() const noexcept { return rows_.size() == 1; }

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
  std::vector<bool> right_;
};

}  // namespace soundhash::cli
