// Adopting a database made by SoundHash's Python layer: recognising it,
// listing what stops the conversion, and running the conversion scripts
// (domain/schema/adopt/*.sql) inside migrate()'s transaction.

#include "adopt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adopt_scripts.hpp"  // generated from domain/schema/adopt/*.sql
#include "sql/adopt.hpp"

namespace soundhash::db {

AdoptionRefused::AdoptionRefused(std::vector<std::string> problems)
    : Error([&] {
        std::string message =
            "cannot adopt this SoundHash (Python) database; nothing was "
            "changed:";
        for (const auto& p : problems) message += "\n  - " + p;
        return message;
      }()),
      problems_(std::move(problems)) {}

namespace detail {
namespace {

using Columns = std::set<std::pair<std::string, std::string>>;

constexpr std::string_view kTimestamp = "timestamp without time zone";

// The Python models' tables: column name and type as format_type() spells
// them.
const std::map<std::string, Columns>& python_tables() {
  static const std::map<std::string, Columns> kTables = [] {
    const std::string ts(kTimestamp);
    std::map<std::string, Columns> t;
    t["channels"] = {{"id", "integer"},
                     {"channel_id", "character varying(255)"},
                     {"channel_name", "character varying(500)"},
                     {"description", "text"},
                     {"subscriber_count", "integer"},
                     {"video_count", "integer"},
                     {"created_at", ts},
                     {"updated_at", ts},
                     {"last_processed", ts},
                     {"is_active", "boolean"}};
    t["videos"] = {{"id", "integer"},
                   {"video_id", "character varying(255)"},
                   {"channel_id", "integer"},
                   {"title", "character varying(1000)"},
                   {"description", "text"},
                   {"duration", "double precision"},
                   {"view_count", "integer"},
                   {"like_count", "integer"},
                   {"upload_date", ts},
                   {"url", "character varying(500)"},
                   {"thumbnail_url", "character varying(500)"},
                   {"processed", "boolean"},
                   {"processing_started", ts},
                   {"processing_completed", ts},
                   {"processing_error", "text"},
                   {"created_at", ts},
                   {"updated_at", ts}};
    t["audio_fingerprints"] = {{"id", "integer"},
                               {"video_id", "integer"},
                               {"start_time", "double precision"},
                               {"end_time", "double precision"},
                               {"fingerprint_hash", "character varying(64)"},
                               {"fingerprint_data", "bytea"},
                               {"sample_rate", "integer"},
                               {"segment_length", "double precision"},
                               {"confidence_score", "double precision"},
                               {"peak_count", "integer"},
                               {"created_at", ts}};
    t["match_results"] = {{"id", "integer"},
                          {"query_fingerprint_id", "integer"},
                          {"matched_fingerprint_id", "integer"},
                          {"similarity_score", "double precision"},
                          {"match_confidence", "double precision"},
                          {"query_source", "character varying(50)"},
                          {"query_url", "character varying(1000)"},
                          {"query_user", "character varying(100)"},
                          {"responded", "boolean"},
                          {"response_sent_at", ts},
                          {"created_at", ts}};
    t["processing_jobs"] = {{"id", "integer"},
                            {"job_type", "character varying(50)"},
                            {"status", "character varying(20)"},
                            {"target_id", "character varying(255)"},
                            {"parameters", "text"},
                            {"progress", "double precision"},
                            {"current_step", "character varying(200)"},
                            {"created_at", ts},
                            {"started_at", ts},
                            {"completed_at", ts},
                            {"error_message", "text"},
                            {"retry_count", "integer"},
                            {"max_retries", "integer"}};
    return t;
  }();
  return kTables;
}

// How `found` differs from the Python table `name`, or "" if it does not.
std::string difference(const std::string& name, const Columns& found) {
  const Columns& want = python_tables().at(name);
  std::vector<std::string> parts;
  for (const auto& [column, type] : want) {
    if (!found.contains({column, type})) {
      parts.push_back(fmt::format("lacks {} {}", column, type));
    }
  }
  for (const auto& [column, type] : found) {
    if (!want.contains({column, type})) {
      parts.push_back(fmt::format("has {} {}", column, type));
    }
  }
  if (parts.empty()) return "";
  return fmt::format("{} {}", name, fmt::join(parts, ", "));
}

}  // namespace

SchemaKind identify_schema(Session& s) {
  std::map<std::string, Columns> relations;
  for (const auto& row : s.execute(sql::kSchemaRelations)) {
    auto& columns = relations[row[0].as<std::string>()];
    auto column = row[1].as<std::optional<std::string>>();
    if (column) columns.emplace(*column, row[2].as<std::string>());
  }
  if (relations.contains("soundhash_schema_migrations")) {
    return SchemaKind::soundhash_db;
  }
  std::vector<std::string> python;
  std::vector<std::string> other;
  for (const auto& [name, columns] : relations) {
    if (name == "alembic_version") continue;
    if (python_tables().contains(name)) {
      python.push_back(name);
      if (auto d = difference(name, columns); !d.empty()) other.push_back(d);
    } else {
      other.push_back(name);
    }
  }
  if (python.empty() && other.empty()) return SchemaKind::empty;
  if (python.size() == python_tables().size() && other.empty()) {
    return SchemaKind::soundhash_python;
  }
  for (const auto& [name, columns] : python_tables()) {
    if (!relations.contains(name)) other.push_back("no table " + name);
  }
  throw UnrecognizedSchema(fmt::format(
      "the database is neither empty, nor migrated by soundhash-db, nor "
      "SoundHash's Python schema; nothing was changed. Found: {}",
      fmt::join(other, "; ")));
}

void inspect_python_database(Session& s, const MigrateOptions& options,
                             MigrationReport& report) {
  const auto counts = s.execute(sql::kAdoptionCounts).one();
  report.findings.push_back(fmt::format(
      "SoundHash (Python) tables: {} channels, {} videos, {} fingerprints, "
      "{} match results, {} jobs",
      counts[0].as<std::int64_t>(), counts[1].as<std::int64_t>(),
      counts[2].as<std::int64_t>(), counts[3].as<std::int64_t>(),
      counts[4].as<std::int64_t>()));
  const bool may_set_timezone = counts[5].as<bool>();
  report.findings.push_back(
      may_set_timezone
          ? fmt::format("TimeZone: this database's default becomes UTC "
                        "(the Python layer writes naive UTC; this session's "
                        "is {})",
                        counts[6].as<std::string>())
          : "TimeZone: this role does not own the database: have its owner "
            "run ALTER DATABASE ... SET timezone TO 'UTC' (the Python layer "
            "writes naive UTC)");

  for (const auto& row : s.execute(sql::kAdoptionProblems)) {
    report.problems.push_back(
        fmt::format("{}: {} row(s), ids {}", row[0].as<std::string>(),
                    row[1].as<std::int64_t>(), row[2].as<std::string>()));
  }
  for (const auto& row : s.execute(sql::kAdoptionDependents)) {
    report.problems.push_back(fmt::format(
        "{} depends on a SoundHash table, which adoption replaces: drop it "
        "first and re-create it after",
        row[0].as<std::string>()));
  }
  std::size_t groups = 0;
  for (const auto& row : s.execute(sql::kDuplicateActiveJobs)) {
    ++groups;
    const auto line = fmt::format(
        "duplicate active jobs for type={} target={}: ids {} (newest first)",
        row[0].as<std::string>(), row[1].as<std::string>(),
        row[2].as<std::string>());
    if (options.duplicate_jobs == DuplicateJobs::keep_newest) {
      report.findings.push_back(line + ": all but the newest get cancelled");
    } else {
      report.problems.push_back(
          line +
          " (--resolve-duplicates=keep-newest cancels all but the "
          "newest)");
    }
  }
  if (groups == 0) report.findings.push_back("no duplicate active jobs");
}

void cancel_duplicate_jobs(Session& s) {
  s.execute(sql::kCancelOlderDuplicateJobs);
}

void set_aside_python_tables(Session& s) { s.execute_script(kAdoptSetAside); }

void copy_back_python_rows(Session& s) { s.execute_script(kAdoptCopyBack); }

}  // namespace detail
}  // namespace soundhash::db
