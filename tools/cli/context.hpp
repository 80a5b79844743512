#pragma once
// Turning the global options and the environment into the library's Config,
// and quieting the library's log so that stderr carries one line per error.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "args.hpp"
#include "soundhash/db/config.hpp"
#include "soundhash/db/read_options.hpp"

namespace soundhash::cli {

/// Options every command accepts, before or after the command name.
std::span<const OptionSpec> global_options();

struct Globals {
  std::optional<std::string> database;   ///< --database: replaces DATABASE_URL
  std::optional<int> connect_timeout_s;  ///< --connect-timeout
  bool verbose = false;                  ///< --verbose: show the library's log
};

/// Reads the global options out of `args`, later ones over `base`'s.
Globals read_globals(const ParsedArgs& args, Globals base = {});

/// What a command works with.
struct Context {
  /// The settings as the environment gives them (plus --database): what a
  /// service started with this environment would use. `status` shows these.
  db::Config configured;
  /// What the tool itself connects with: `configured`, plus
  /// --connect-timeout, with few retries so "cannot connect" is prompt.
  db::Config effective;
};

/// Builds the Context: Config::from_env() (InvalidArgument on a malformed
/// SOUNDHASH_DB_* value), then the global options.
Context make_context(const Globals& globals);

/// Adds connect_timeout to `conninfo`, URI or key=value form, so that it
/// overrides any connect_timeout already there.
std::string with_connect_timeout(const std::string& conninfo, int seconds);

/// The standbys of `effective.replica_conninfo`, looked at now (empty when
/// none is configured), with a connect timeout of their own unless the
/// conninfo sets one, so a dead host costs seconds, not minutes.
std::vector<db::ReplicaStatus> look_at_replicas(const db::Config& effective);

/// Registers the library's "soundhash.db" logger on stderr: off unless
/// `verbose` (its failure lines would repeat what the tool reports itself),
/// and unless `verbose` asks the server to keep its NOTICEs to itself.
/// Call before anything uses the library.
void setup_logging(bool verbose);

}  // namespace soundhash::cli
