#pragma once
// What of a Database tests (and the core's own code) may reach that its
// users may not: the pool, to lend and inspect connections directly.

namespace soundhash::db {
class Database;
}  // namespace soundhash::db

namespace soundhash::db::detail {

class Pool;

struct DatabaseAccess {
  static Pool& pool(Database& database) noexcept;
};

}  // namespace soundhash::db::detail
