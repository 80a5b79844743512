#pragma once
// SoundHash's schema: the migrations bundled into the library (nothing to
// install beside it) and the functions that apply them.

#include <span>
#include <string_view>

namespace soundhash::db {

class Database;

/// One bundled schema migration.
struct Migration {
  int version;            ///< applied in ascending order
  std::string_view name;  ///< a short description, recorded when applied
  std::string_view sql;   ///< the migration's SQL script
};

/// All bundled migrations, by ascending version.
std::span<const Migration> migrations() noexcept;

/// Applies the bundled migrations not yet applied, in one transaction, and
/// returns how many it applied. Idempotent, and safe when many processes
/// start at once: a transaction-level advisory lock serialises them (so it
/// also works behind PgBouncer in transaction mode).
int migrate(Database& database);

/// The highest migration version applied, or 0 on a database never migrated.
int schema_version(Database& database);

}  // namespace soundhash::db
