#pragma once
// What every part of the soundhash-db tool shares: its exit codes and the two
// errors a command throws on purpose. Library errors (soundhash::db::Error)
// are mapped to exit codes in main.cpp, in one place.

#include <stdexcept>

namespace soundhash::cli {

/// The tool's exit codes; scripts depend on them, so they never change.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,       ///< the database refused, or the operation did
  kExitUsage = 2,         ///< bad command line (or bad SOUNDHASH_DB_* value)
  kExitNoConnection = 3,  ///< could not connect (or get a pooled connection)
};

/// The command line is wrong: exit 2, and point at --help.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The operation was refused for a reason the user can act on (no such job,
/// job not failed, schema not migrated): exit 1 with just this message.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace soundhash::cli
