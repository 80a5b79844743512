#pragma once
// Session: one unit of work on one pooled connection.
//
//   {
//     auto s = database.session();
//     s.execute("INSERT INTO channels (channel_id) VALUES ($1)", "UC1");
//     s.execute("UPDATE channels SET name = $2 WHERE channel_id = $1", "UC1",
//               "Name");
//   }  // COMMIT here; ROLLBACK instead if an exception is leaving the scope
//
// The connection is taken from the pool on first use and BEGIN is sent with
// the first statement (same round trip). Every statement belongs to a "call"
// (one `execute`, one repository method, or one `call(op, fn)`; calls nested
// in a call join it). A call is all or nothing: any exception leaving it
// rolls back what it did, and once something inside it failed it stays
// failed (see call()). The call is also the unit that is retried:
//  - a call that is the first work of its transaction retries transient
//    failures by itself (ROLLBACK, back off with nothing held, run again);
//  - a later call runs under a SAVEPOINT sent in the same round trip: a
//    non-transient failure rolls back to it and throws, leaving earlier work
//    intact; a transient one rolls the whole transaction back (it cannot be
//    retried alone) and throws TransientError. The session then refuses
//    further work with TransientError until `rollback()`, so a unit can
//    never be silently split. `Database::transact` re-runs the whole unit.
//
// An autocommit session (Database::autocommit_session) makes every call a
// unit of its own, committed before the call returns; a call that is one
// statement sends BEGIN, the statement and COMMIT in one round trip. It is
// what a queue worker wants: claim, heartbeat, complete, each durable at once.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "soundhash/db/detail/lease.hpp"
#include "soundhash/db/detail/params.hpp"
#include "soundhash/db/read_options.hpp"
#include "soundhash/db/result.hpp"
#include "soundhash/db/retry.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db {

class Database;
class Observer;
class Pipeline;
enum class UnitOutcome;

namespace detail {
/// An address that identifies the calling thread while it runs (cheaper to
/// include than <thread>).
[[nodiscard]] const void* this_thread_token() noexcept;
}  // namespace detail
namespace detail {
class Connection;
struct Prefix;
struct Statement;
struct Trip;
}  // namespace detail

/// One unit of work on one pooled connection: commits when its scope exits
/// normally, rolls back when an exception leaves it, and always gives the
/// connection back. Made by Database::session(); not copyable or movable.
/// See the file comment for how calls are retried and rolled back.
///
/// Ways to run SQL, by purpose: execute() a statement, read() one that only
/// reads, execute_final() the statement that ends its call, ensure() an
/// idempotent write that often has nothing to do, execute_script() a script
/// of several statements, copy_in() bulk rows; call() groups them into one
/// call.
class Session {
 public:
  /// How the session ends when its scope exits normally.
  enum class Kind {
    scoped,  ///< commits (the default, Database::transact's, and the scoped
             ///< repositories')
    manual,  ///< rolls back what was not committed (the deprecated form)
    /// every call is its own transaction, committed before the call returns
    /// (one round trip for a one-statement call); the connection goes back
    /// to the pool between calls. A write call whose connection is lost
    /// throws CommitInDoubt: it may have committed.
    autocommit,
  };

  /// Commits on normal scope exit (scoped kind), rolls back when an exception
  /// is leaving the scope; always gives the connection back. A failing COMMIT
  /// throws from here, never while unwinding.
  ~Session() noexcept(false);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;

  /// Runs one statement with `$1..$n` bound to `args` as one call (see the
  /// file comment for its retry and rollback rules).
  template <Bindable... Args>
  Result execute(std::string_view sql, const Args&... args) {
    return bind_and_run(Purpose::statement, sql, args...);
  }

  /// Like execute, for a statement that only reads. When it is the first
  /// work of a READ COMMITTED unit it runs in a read-only transaction of its
  /// own, sent with its BEGIN and COMMIT in one round trip, so a scope that
  /// only reads costs one round trip and has nothing to commit; at READ
  /// COMMITTED each statement sees fresh data anyway. A write sent through
  /// read() is refused by the server (SQLSTATE 25006). In a REPEATABLE READ or
  /// SERIALIZABLE unit, or after a write, it is the same as execute.
  template <Bindable... Args>
  Result read(std::string_view sql, const Args&... args) {
    return bind_and_run(Purpose::read, sql, args...);
  }

  /// Like execute, for the statement that ends the running call (repository
  /// methods made of one statement use it): in an autocommit session its
  /// COMMIT rides in the same round trip. Running another statement after
  /// it in the same call is a logic_error, and an exception thrown after it
  /// in the same call cannot undo it. Inside an outer call it is an
  /// ordinary statement: only the outermost call ends the transaction.
  template <Bindable... Args>
  Result execute_final(std::string_view sql, const Args&... args) {
    return bind_and_run(Purpose::final_statement, sql, args...);
  }

  /// Like execute_final, for an idempotent write that often has nothing to
  /// do, such as a create that finds its row already there. When it is the
  /// first work of a READ COMMITTED unit, the same round trip asks whether
  /// the transaction wrote anything (has a transaction id); if not, the
  /// transaction ends at once, its COMMIT sent without waiting for the
  /// reply, as after a leading read(): a scope whose only call wrote nothing
  /// costs one round trip and has nothing to commit, and a later call of the
  /// unit begins a new transaction. Elsewhere it is the same as
  /// execute_final.
  ///
  /// Use it only for a statement whose effects, when it writes nothing, need
  /// not last to the end of the unit. Ending early releases advisory and
  /// table locks it took, delivers a NOTIFY it sent (NOTIFY assigns no
  /// transaction id), drops SET LOCAL / set_config(..., true) settings it
  /// made and closes cursors it opened; row locks and every write assign a
  /// transaction id, so they keep the transaction open.
  template <Bindable... Args>
  Result ensure(std::string_view sql, const Args&... args) {
    return bind_and_run(Purpose::ensure, sql, args...);
  }

  /// Runs a multi-statement SQL script (no parameters) as one call, or
  /// inside the running call, e.g. DDL.
  void execute_script(std::string_view sql);
  /// Streams `data` through `COPY ... FROM STDIN` as one call, or inside the
  /// running call; returns the number of rows copied.
  std::int64_t copy_in(std::string_view copy_sql, std::string_view data);

  /// A Pipeline on this session: statements added to it go out together
  /// and are answered in one round trip, as one call, when it is synced
  /// (see pipeline.hpp, which declares it).
  [[nodiscard]] Pipeline pipeline();

  /// Runs `fn()` as one call named `op`: retried as a whole when it is the
  /// first work of the transaction, under a savepoint otherwise. A call is
  /// all or nothing: any exception leaving it rolls back everything it did,
  /// and once anything inside it failed (a statement, or an exception out of
  /// a nested call) it stays failed: later statements in it throw that error
  /// unsent, and it throws that error when `fn` returns, even if `fn` caught
  /// it. Calls nested inside a call join it; only the outermost one ends a
  /// transaction. Repository methods are built on this. A Session is used by
  /// one thread at a time: a call while another thread's call is running
  /// throws std::logic_error.
  template <class F>
  auto call(std::string_view op, F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (owner_.load(std::memory_order_relaxed) == detail::this_thread_token())
      return joined(fn);
    ThreadClaim claim(*this, "call");
    throw_if_lost();
    auto once = [&]() -> R {
      CallGuard guard(*this, op);
      if constexpr (std::is_void_v<R>) {
        fn();
        guard.finish();
      } else {
        R r = fn();
        guard.finish();
        return r;
      }
    };
    if (retries_alone()) {
      return detail::retry_observed(op, policy(), observer(), once);
    }
    // No retry budget of its own: a transient failure goes to whoever owns
    // the unit (transact logs and retries it), so only log the others.
    try {
      return once();
    } catch (const TransientError&) {
      throw;
    } catch (const std::exception& e) {
      detail::log_give_up(op, 1, 1, e);
      throw;
    }
  }

  /// Commits the work so far and gives the connection back; the session can
  /// be used again (a new transaction begins lazily). Throws the COMMIT's
  /// error; a connection lost during COMMIT throws CommitInDoubt. Throws
  /// std::logic_error, changing nothing, inside a call (the call would be
  /// split) and in a Database::transact unit (which owns its transaction: a
  /// re-run would apply a committed half twice).
  void commit();
  /// Rolls back the work so far and clears a failed state. Throws
  /// std::logic_error, changing nothing, where commit() does.
  void rollback();
  /// Rolls back anything uncommitted and gives the connection back (as
  /// rollback()).
  void close() { rollback(); }

  /// True while a transaction is open on the session's connection.
  [[nodiscard]] bool in_transaction() const noexcept;
  /// The server process id of the session's connection (acquires one).
  int backend_pid();
  /// The Database this session draws its connection from.
  [[nodiscard]] Database& database() const noexcept { return db_; }
  /// The ReadOptions of a read session (Database::read_session), else null.
  [[nodiscard]] const ReadOptions* read_options() const noexcept {
    return read_ ? &*read_ : nullptr;
  }
  /// The isolation level and access mode of this session's transactions.
  [[nodiscard]] const TxOptions& options() const noexcept { return options_; }
  /// How the session ends on a normal scope exit.
  [[nodiscard]] Kind kind() const noexcept;

  /// The former name of execute_final.
  template <Bindable... Args>
  [[deprecated("use execute_final")]] Result execute_last(std::string_view sql,
                                                          const Args&... args) {
    return execute_final(sql, args...);
  }
  /// The former name of ensure.
  template <Bindable... Args>
  [[deprecated("use ensure")]] Result execute_last_may_write_nothing(
      std::string_view sql, const Args&... args) {
    return ensure(sql, args...);
  }
  /// The former name of execute_script.
  [[deprecated("use execute_script")]] void run_script(std::string_view sql) {
    execute_script(sql);
  }

 private:
  friend class Database;
  friend class Pipeline;
  /// Marks the session of a Database::transact unit.
  struct ForTransact {};
  Session(Database& db, TxOptions options, Kind kind);
  Session(Database& db, TxOptions options, ForTransact);
  /// A read session (Database::read_session, read_transact): READ ONLY,
  /// its connection taken from a standby that meets `read` if one does.
  Session(Database& db, const ReadOptions& read, Kind kind);
  Session(Database& db, const ReadOptions& read, ForTransact);

  /// Who ends the transaction, and how: the public Kind, plus a
  /// Database::transact unit (which commits it itself, forbids commit() and
  /// rollback(), and owns the only retry budget).
  enum class Mode : std::uint8_t { scoped, manual, autocommit, transact };

  /// The open transaction, as the session sees it.
  enum class Tx : std::uint8_t {
    clean,  ///< holds no work: the next statement may begin a transaction
    open,   ///< holds the work of earlier statements
    /// ... and the last call's savepoint, to release with the next batch
    open_release,
    /// rolled back by a transient error that took earlier work with it: all
    /// work is refused until rollback(), so a unit is never silently split
    lost,
  };

  /// The running outermost call (nested calls join it).
  enum class Call : std::uint8_t {
    none,     ///< no call is running
    first,    ///< the transaction's first work: it alone is retried whole
    later,    ///< after earlier work: its SAVEPOINT goes with its first batch
    guarded,  ///< after earlier work, under its SAVEPOINT
    /// failed and rolled back to its savepoint; earlier work lives on, and
    /// the savepoint is released with the next batch
    undone_to_savepoint,
    undone,     ///< failed, and nothing of it is left
    committed,  ///< its final statement committed in the same round trip
  };

  /// What a statement is for (the entry point it came through).
  enum class Purpose : std::uint8_t {
    statement,
    read,
    final_statement,
    ensure
  };

  /// Sets up and ends the outermost call: on an exception leaving it, rolls
  /// back what the call did.
  struct CallGuard {
    CallGuard(Session& s, std::string_view op) noexcept;
    ~CallGuard();
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;
    /// The call's function returned: throw its failure if it had one (caught
    /// inside), else end the call (an autocommit session commits).
    void finish();
    Session& s;
    std::string_view op;
    int uncaught = std::uncaught_exceptions();
    std::chrono::steady_clock::time_point start{};  // when observed
  };
  /// Marks the session as used by this thread for its lifetime; throws
  /// std::logic_error if another thread is using it.
  struct ThreadClaim {
    ThreadClaim(Session& s, const char* what);
    ~ThreadClaim();
    ThreadClaim(const ThreadClaim&) = delete;
    ThreadClaim& operator=(const ThreadClaim&) = delete;
    Session& s;
  };

  /// Encodes `args` and runs `sql` with them for `purpose`.
  template <class... Args>
  Result bind_and_run(Purpose purpose, std::string_view sql,
                      const Args&... args) {
    detail::Param params[sizeof...(Args) + 1];
    std::size_t i = 0;
    (detail::encode(params[i++], args), ...);
    return run_in_call(purpose, sql, {params, sizeof...(Args)});
  }

  /// A call inside a call: part of the outer one. An exception leaving it
  /// fails the outer call even if the outer call catches it.
  template <class F>
  auto joined(F& fn) -> std::invoke_result_t<F&> {
    ++depth_;
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        fn();
        --depth_;
      } else {
        auto r = fn();
        --depth_;
        return r;
      }
    } catch (...) {
      --depth_;
      if (!call_error_) call_error_ = std::current_exception();
      throw;
    }
  }

  /// A call that is the transaction's first work retries by itself, except
  /// in a transact unit.
  [[nodiscard]] bool retries_alone() const noexcept {
    return mode_ != Mode::transact && tx_ == Tx::clean;
  }
  [[nodiscard]] const RetryPolicy& policy() const noexcept;
  /// The Database's observer, or null.
  [[nodiscard]] Observer* observer() const noexcept;
  /// Tells the observer, if any, how a transaction ended.
  void report_unit(UnitOutcome outcome) noexcept;
  /// Throws TransientError while the transaction is lost (Tx::lost).
  void throw_if_lost() const;
  /// Throws the running call's failure, or throw_if_lost()'s.
  void check_may_run() const;
  /// Throws std::logic_error if `what` (commit or rollback) may not be
  /// called now.
  void check_may_end(const char* what) const;

  /// Runs a statement as one call, or inside the running call.
  Result run_in_call(Purpose purpose, std::string_view sql,
                     std::span<const detail::Param> params);
  /// Runs a statement inside the running call, in one round trip with the
  /// unit's control statements; picks the shortcut its purpose allows.
  Result run_statement(Purpose purpose, std::string_view sql,
                       std::span<const detail::Param> params);
  /// Runs `sts` (all for `purpose`) inside the running call in one round
  /// trip with the unit's control statements, as run_statement runs one;
  /// `results[i]` receives statement i's result. Before a failure is
  /// thrown, `ran` and `failed` say how far the statements got (as
  /// detail::Trip's fields of those names).
  void run_batch(Purpose purpose, std::span<const detail::Statement> sts,
                 std::span<Result> results, std::size_t& ran, int& failed);
  /// Runs `sql` through `send(text)` (simple protocol: a script or COPY)
  /// inside the running call, with the control statements in front.
  template <class Send>
  void run_text(std::string_view sql, const Send& send);
  /// The control statements the next batch must carry.
  [[nodiscard]] detail::Prefix prefix_for(bool idle) const noexcept;
  /// Records the part of a batch's prefix that went through.
  void note_prefix(const detail::Trip& trip) noexcept;
  /// A statement of the running call failed: undo the call, then throw.
  [[noreturn]] void fail(std::exception_ptr error);
  /// Rolls back what the running call did (an exception is leaving it).
  void undo_call() noexcept;

  /// Commits the transaction (commit() without its checks).
  void commit_unit();
  /// Rolls back and forgets a lost state (rollback() without its checks).
  void abandon() noexcept;
  /// The transaction is over (or rolled back whole): back to Tx::clean and
  /// the connection back to the pool, which rolls back what is open.
  void end_transaction() noexcept;
  /// As end_transaction, but later work is refused (Tx::lost) because of
  /// `why`.
  void lose_transaction(std::string why) noexcept;
  detail::Connection& connection();
  void give_back() noexcept;

  Database& db_;
  TxOptions options_;
  Mode mode_;
  int uncaught_at_start_;
  detail::Lease conn_;
  std::optional<ReadOptions> read_;  // set in a read session
  // The thread running a call or commit()/rollback(), if any.
  std::atomic<const void*> owner_{nullptr};
  Tx tx_ = Tx::clean;
  Call call_ = Call::none;
  int depth_ = 0;                  // calls open (nested ones join the first)
  std::exception_ptr call_error_;  // the running call's first failure
  std::string lost_because_;       // why the transaction is lost (Tx::lost)
  std::string last_error_;         // for the rollback log line
  // For the observer and the slow-statement log: the running call's name,
  // its round trips so far, its last statement's row count, and the SQLSTATE
  // of its failure.
  std::string_view call_op_;
  int trips_ = 0;
  std::int64_t last_rows_ = 0;
  std::string call_sqlstate_;
  bool doubt_reported_ = false;  // in doubt: give_back reports no rollback
};

}  // namespace soundhash::db
