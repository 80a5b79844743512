// Applies SoundHash's bundled migrations (domain/schema/*.sql), adopting a
// database made by SoundHash's Python layer on the way (adopt.cpp).

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <set>

#include "adopt.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/migrations.hpp"
#include "sql/migration_table.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

// Key of the transaction-level advisory lock that serialises migrate() across
// processes ("SHDBMIGR"). Transaction-level so it also works behind PgBouncer.
constexpr long long kMigrateLock = 0x534844424d494752LL;

// The steps migrate() takes from the state it found, into report.plan.
void plan(const std::set<int>& applied, MigrationReport& report) {
  const bool adopt = report.found == SchemaKind::soundhash_python;
  if (adopt) {
    report.plan.emplace_back(
        "move the SoundHash (Python) tables aside into schema "
        "soundhash_adopting");
  }
  for (const auto& m : migrations()) {
    report.to_version = std::max(report.to_version, m.version);
    if (applied.contains(m.version)) continue;
    report.plan.push_back(
        fmt::format("apply migration {} ({})", m.version, m.name));
    if (adopt && m.version == detail::kAdoptedVersion) {
      report.plan.emplace_back(
          "copy every row into the new tables (ids kept, naive timestamps "
          "read as UTC, progress 0-1 to 0-100), carry owner and grants "
          "over, drop the Python tables, set the database's TimeZone to UTC");
    }
  }
  if (report.plan.empty()) report.plan.emplace_back("nothing: up to date");
}

}  // namespace

MigrationReport migrate(Database& database, const MigrateOptions& options) {
  return database.transact([&](Session& s) {
    MigrationReport report;
    s.execute(sql::kLockMigrations, kMigrateLock);
    report.found = detail::identify_schema(s);
    std::set<int> applied;
    if (report.found == SchemaKind::soundhash_db) {
      for (const auto& row : s.execute(sql::kAppliedVersions)) {
        applied.insert(row[0].as<int>());
        report.from_version = std::max(report.from_version, row[0].as<int>());
      }
    }
    const bool adopt = report.found == SchemaKind::soundhash_python;
    if (adopt) detail::inspect_python_database(s, options, report);
    plan(applied, report);
    if (options.dry_run) return report;
    if (!report.problems.empty()) throw AdoptionRefused(report.problems);

    if (adopt) {
      if (options.duplicate_jobs == DuplicateJobs::keep_newest) {
        detail::cancel_duplicate_jobs(s);
      }
      detail::set_aside_python_tables(s);
      logger().info("Adopting a SoundHash (Python) database");
    }
    s.execute(sql::kCreateMigrationTable);
    for (const auto& m : migrations()) {
      if (applied.contains(m.version)) continue;
      s.call("migrate", [&] {
        s.execute_script(m.sql);
        s.execute(sql::kRecordMigration, m.version, m.name);
      });
      logger().info("Applied migration {} ({})", m.version, m.name);
      ++report.applied;
      if (adopt && m.version == detail::kAdoptedVersion) {
        detail::copy_back_python_rows(s);
        logger().info("Adopted the SoundHash (Python) rows");
      }
    }
    return report;
  });
}

int migrate(Database& database) { return migrate(database, {}).applied; }

int schema_version(Database& database) {
  return database.transact([](Session& s) {
    auto exists = s.execute(sql::kMigrationTableExists);
    if (!exists.as<bool>()) return 0;
    return s.execute(sql::kSchemaVersion).as<int>();
  });
}

int Database::migrate() { return db::migrate(*this); }

int Database::schema_version() { return db::schema_version(*this); }

}  // namespace soundhash::db
