#pragma once
// What a pooled connection carries from one user to the next (session state
// that outlives a transaction) and from a process to a forked child (the
// connection itself). See docs/guide.md, "Connections between users".

#include <cstdint>
#include <string_view>

namespace soundhash::db::detail {

/// What must be done to a connection before another user may have it, in
/// increasing cost: the strongest that any of its statements needed wins.
enum class Cleanup : std::uint8_t {
  none,   ///< nothing its statements did outlives their transaction
  reset,  ///< settings, role, advisory locks, LISTEN, cursors, temp tables:
          ///< one round trip undoes them, prepared statements stay
  discard_all,  ///< also prepared statements (DISCARD ALL; cache emptied)
  close,        ///< what SQL cannot undo (dblink connections, LOADed code)
};

/// What running a piece of SQL may leave on its connection.
struct StateChange {
  Cleanup cleanup = Cleanup::none;
  /// May remove prepared statements of the connection's cache (DEALLOCATE,
  /// DISCARD ALL): the cache must be forgotten at once.
  bool forgets_prepared = false;
};

/// Decides from the text alone, cheaply and erring towards false positives
/// (which only cost a round trip), whether `sql` (one statement or a script
/// of several) may change session state beyond its transaction: by each
/// statement's leading keywords (SET but not SET LOCAL, RESET, LISTEN,
/// PREPARE, DEALLOCATE, DISCARD, DECLARE, CREATE TEMP, SELECT INTO TEMP, DO,
/// LOAD) and by function names anywhere in it (set_config,
/// pg_advisory_lock*, pg_try_advisory_lock*, dblink_connect*, pg_temp).
/// What a called server function does inside is not visible here.
StateChange classify_sql(std::string_view sql) noexcept;

/// getpid(), kept in a variable that a fork handler refreshes in the child:
/// the pool asks on every loan, and getpid() is a system call.
int current_pid() noexcept;

}  // namespace soundhash::db::detail
