#pragma once
// The statements of migrate() and schema_version(); the migrations
// themselves are domain/schema/*.sql.

#include <string_view>

namespace soundhash::db::detail::sql {

inline constexpr std::string_view kLockMigrations = R"sql(
SELECT pg_advisory_xact_lock($1)
)sql";

inline constexpr std::string_view kCreateMigrationTable = R"sql(
CREATE TABLE IF NOT EXISTS soundhash_schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now())
)sql";

inline constexpr std::string_view kAppliedVersions = R"sql(
SELECT version FROM soundhash_schema_migrations
)sql";

inline constexpr std::string_view kRecordMigration = R"sql(
INSERT INTO soundhash_schema_migrations (version, name) VALUES ($1, $2)
)sql";

inline constexpr std::string_view kMigrationTableExists = R"sql(
SELECT to_regclass('soundhash_schema_migrations') IS NOT NULL
)sql";

inline constexpr std::string_view kSchemaVersion = R"sql(
SELECT coalesce(max(version), 0) FROM soundhash_schema_migrations
)sql";

}  // namespace soundhash::db::detail::sql
