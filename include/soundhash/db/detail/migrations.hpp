#pragma once
// The schema migrations bundled into the library (no files at run time).

#include <span>
#include <string_view>

namespace soundhash::db::detail {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// All migrations, by ascending version.
std::span<const Migration> migrations() noexcept;

}  // namespace soundhash::db::detail
