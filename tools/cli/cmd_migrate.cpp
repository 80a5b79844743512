// `soundhash-db migrate`: apply the bundled schema migrations, adopting a
// database made by SoundHash's Python layer on the way.

#include <fmt/format.h>

#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/migrations.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kOptions[] = {
    {"--dry-run", "", "", "print what was found and the plan; change nothing"},
    {"--resolve-duplicates", "", "HOW",
     "duplicate active jobs when adopting: 'refuse' (default) or "
     "'keep-newest'"},
};

db::DuplicateJobs parse_duplicates(const std::string& text) {
  if (text == "refuse") return db::DuplicateJobs::refuse;
  if (text == "keep-newest") return db::DuplicateJobs::keep_newest;
  throw UsageError(fmt::format(
      "--resolve-duplicates takes 'refuse' or 'keep-newest', not '{}'", text));
}

std::string_view describe(db::SchemaKind kind) {
  switch (kind) {
    case db::SchemaKind::empty:
      return "no SoundHash tables";
    case db::SchemaKind::soundhash_db:
      return "a soundhash-db schema";
    case db::SchemaKind::soundhash_python:
      return "a SoundHash (Python) database, to adopt";
  }
  return "?";
}

void print_list(std::string_view title, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  fmt::print("{}:\n", title);
  for (const auto& line : lines) fmt::print("  - {}\n", line);
}

int run_migrate(const Invocation& inv) {
  db::MigrateOptions options;
  options.dry_run = inv.args.flag("--dry-run");
  if (auto how = inv.args.value("--resolve-duplicates")) {
    options.duplicate_jobs = parse_duplicates(*how);
  }
  db::Database database{inv.context.effective};
  if (options.dry_run) {
    const auto report = db::migrate(database, options);
    fmt::print("found: {} (schema version {})\n", describe(report.found),
               report.from_version);
    print_list("findings", report.findings);
    print_list("problems (adoption refused until they are fixed)",
               report.problems);
    print_list("plan", report.plan);
    fmt::print("dry run: nothing changed; schema version would be {}\n",
               report.to_version);
    return report.problems.empty() ? kExitOk : kExitFailure;
  }
  try {
    const auto report = db::migrate(database, options);
    if (report.found == db::SchemaKind::soundhash_python) {
      print_list("adopted a SoundHash (Python) database", report.findings);
    }
    const int applied = report.applied;
    fmt::print("applied {} migration{}; schema version {}{}\n", applied,
               applied == 1 ? "" : "s", report.to_version,
               applied == 0 ? " (already up to date)" : "");
  } catch (const db::AdoptionRefused& e) {
    print_list("problems", e.problems());
    throw Failure(fmt::format(
        "cannot adopt this SoundHash (Python) database: {} problem{} (listed "
        "above); nothing was changed",
        e.problems().size(), e.problems().size() == 1 ? "" : "s"));
  } catch (const db::UnrecognizedSchema& e) {
    throw Failure(e.what());
  }
  return kExitOk;
}

}  // namespace

const Command& migrate_command() {
  static const Command kCommand{
      .name = "migrate",
      .synopsis = "[--dry-run] [--resolve-duplicates=HOW]",
      .summary = "apply the bundled schema migrations (adopting a Python one)",
      .description =
          "Applies the schema migrations bundled with the library that the\n"
          "database does not have yet, and prints how many it applied and\n"
          "the resulting schema version. Idempotent; safe to run from many\n"
          "processes at once (they are serialised by an advisory lock).\n"
          "\n"
          "A database made by SoundHash's Python layer (its tables, no\n"
          "soundhash-db version) is adopted in the same one transaction:\n"
          "every row is kept (ids as they are, naive timestamps read as\n"
          "UTC, progress 0-1 scaled to 0-100) and the database's TimeZone\n"
          "becomes UTC. Rows the new constraints refuse, including active\n"
          "jobs duplicated for one (type, target), are listed and nothing\n"
          "changes (exit 1); --resolve-duplicates=keep-newest cancels all\n"
          "but the newest of each duplicate. Tables of SoundHash's names\n"
          "that are neither kind are refused (exit 1). --dry-run prints\n"
          "what was found and the plan (exit 1 if adoption would be\n"
          "refused).",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_migrate,
  };
  return kCommand;
}

}  // namespace soundhash::cli
