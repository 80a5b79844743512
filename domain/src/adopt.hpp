#pragma once
// Recognising the schema migrate() finds, and adopting a database made by
// SoundHash's Python layer (its models at commit 87a6a61 of
// subculture-collective/soundhash, as its Alembic initial migration creates
// them). Used by migrate.cpp only.

#include "soundhash/db/migrations.hpp"
#include "soundhash/db/session.hpp"

namespace soundhash::db::detail {

/// The schema version domain/schema/adopt/copy_back.sql writes into: an
/// adoption applies the migrations up to it, copies the rows, then applies
/// the rest.
inline constexpr int kAdoptedVersion = 8;

/// What the current schema holds; throws UnrecognizedSchema for tables of
/// SoundHash's names that are neither this library's nor the Python layer's.
SchemaKind identify_schema(Session& s);

/// Looks at a Python database before adopting it: row counts, settings and
/// duplicate active jobs into `report.findings`, rows and objects the
/// adopted schema refuses into `report.problems`.
void inspect_python_database(Session& s, const MigrateOptions& options,
                             MigrationReport& report);

/// Cancels all but the newest of each group of duplicate active jobs.
void cancel_duplicate_jobs(Session& s);

/// Moves the Python tables aside (step 1; see domain/schema/adopt/).
void set_aside_python_tables(Session& s);

/// Copies their rows into the schema at kAdoptedVersion, drops them (step 2).
void copy_back_python_rows(Session& s);

}  // namespace soundhash::db::detail
