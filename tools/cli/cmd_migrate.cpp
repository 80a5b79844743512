// `soundhash-db migrate`: apply the bundled schema migrations.

#include <fmt/format.h>

#include "cli.hpp"
#include "commands.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/migrations.hpp"

namespace soundhash::cli {
namespace {

int run_migrate(const Invocation& inv) {
  db::Database database{inv.context.effective};
  const int applied = db::migrate(database);
  const int version = db::schema_version(database);
  fmt::print("applied {} migration{}; schema version {}{}\n", applied,
             applied == 1 ? "" : "s", version,
             applied == 0 ? " (already up to date)" : "");
  return kExitOk;
}

}  // namespace

const Command& migrate_command() {
  static const Command kCommand{
      .name = "migrate",
      .synopsis = "",
      .summary = "apply the bundled schema migrations",
      .description =
          "Applies the schema migrations bundled with the library that the\n"
          "database does not have yet, and prints how many it applied and\n"
          "the resulting schema version. Idempotent; safe to run from many\n"
          "processes at once (they are serialised by an advisory lock).",
      .options = {},
      .min_positionals = 0,
      .max_positionals = 0,
      .run = run_migrate,
  };
  return kCommand;
}

}  // namespace soundhash::cli
