#pragma once
// SoundHash's schema: the migrations bundled into the library (nothing to
// install beside it) and the functions that apply them, including the
// adoption of a database that SoundHash's Python layer made.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/errors.hpp"

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

/// What migrate() found in the database's current schema.
enum class SchemaKind {
  empty,             ///< none of SoundHash's tables
  soundhash_db,      ///< migrated by this library (any version)
  soundhash_python,  ///< made by SoundHash's Python layer (its models)
};

/// What to do with active jobs (pending or running) that share one
/// (job_type, target_id) in a Python database, which the adopted schema's
/// idempotent creation assumes never happens.
enum class DuplicateJobs {
  refuse,       ///< list them and adopt nothing
  keep_newest,  ///< cancel all but the highest id, saying so in error_message
};

struct MigrateOptions {
  /// Look and plan only: report what migrate() would do, change nothing.
  bool dry_run = false;
  DuplicateJobs duplicate_jobs = DuplicateJobs::refuse;
};

/// What migrate() found, planned and did.
struct MigrationReport {
  SchemaKind found = SchemaKind::empty;
  int from_version = 0;  ///< before (0 for an empty or a Python database)
  int to_version = 0;    ///< after (what it would be, on a dry run)
  int applied = 0;       ///< migrations applied (0 on a dry run)
  std::vector<std::string> plan;      ///< the steps, in order
  std::vector<std::string> findings;  ///< row counts, settings, resolutions
  std::vector<std::string> problems;  ///< what stops an adoption
};

/// The database holds tables of SoundHash's names that are neither this
/// library's schema nor the Python layer's: migrate() changes nothing.
class UnrecognizedSchema : public Error {
 public:
  using Error::Error;
};

/// A Python database holds rows or objects the adopted schema cannot take
/// (see MigrationReport::problems): migrate() changed nothing.
class AdoptionRefused : public Error {
 public:
  explicit AdoptionRefused(std::vector<std::string> problems);
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept {
    return problems_;
  }

 private:
  std::vector<std::string> problems_;
};

/// Applies the bundled migrations not yet applied, in one transaction, and
/// returns how many it applied. Idempotent, and safe when many processes
/// start at once: a transaction-level advisory lock serialises them (so it
/// also works behind PgBouncer in transaction mode). A database made by
/// SoundHash's Python layer is adopted (see the options' overload).
int migrate(Database& database);

/// migrate() with options, reporting what it found and did. On a database
/// made by SoundHash's Python layer it converts the tables to the current
/// schema keeping every row, in the same one transaction; it throws
/// AdoptionRefused (changing nothing) when rows break the new constraints,
/// and UnrecognizedSchema when the tables are neither empty, nor this
/// library's, nor the Python layer's.
MigrationReport migrate(Database& database, const MigrateOptions& options);

/// The highest migration version applied, or 0 on a database never migrated.
int schema_version(Database& database);

}  // namespace soundhash::db
