#pragma once
// Turning "relation does not exist" into "run migrate" for the job commands.

#include <string>
#include <utility>

#include "cli.hpp"
#include "soundhash/db/errors.hpp"

namespace soundhash::cli {

/// Runs `fn()`; a ProgrammingError saying a table, function or column of the
/// schema is missing (42P01, 42883, 42703: a schema older than the tool)
/// becomes a Failure that tells what to do.
template <class F>
decltype(auto) needing_schema(F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (const db::ProgrammingError& e) {
    if (e.sqlstate() != "42P01" && e.sqlstate() != "42883" &&
        e.sqlstate() != "42703") {
      throw;
    }
    throw Failure(std::string("the database schema is not migrated (run "
                              "'soundhash-db migrate'): ") +
                  e.what());
  }
}

}  // namespace soundhash::cli
