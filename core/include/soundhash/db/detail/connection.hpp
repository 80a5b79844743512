#pragma once
// One libpq connection, owned. Statements go out in pipeline mode so that a
// unit's control statements (BEGIN, SAVEPOINT, RELEASE) ride in the same round
// trip as the statement they guard. Not thread-safe: one user at a time (the
// pool hands it to one Session).

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "soundhash/db/detail/params.hpp"
#include "soundhash/db/detail/session_state.hpp"
#include "soundhash/db/result.hpp"

struct pg_conn;  // libpq's PGconn

namespace soundhash::db::detail {

/// A statement to run: SQL, bound parameters, and whether it may be prepared
/// and cached on the connection.
struct Statement {
  std::string_view sql;
  std::span<const Param> params{};
  bool cacheable = true;
};

/// What a pipeline run produced: `failed` is the index of the statement that
/// failed (-1 if none) and `error` its exception.
struct Outcome {
  int failed = -1;
  std::exception_ptr error;
  /// The failed statement's error is the server's reply to it (it carried a
  /// SQLSTATE), not one libpq made up: the server got that far and no
  /// further, even if the connection is gone now.
  bool server_replied = false;
  [[nodiscard]] bool ok() const noexcept { return failed < 0; }
};

enum class TxStatus { idle, active, in_transaction, in_error, unknown };

/// A NOTIFY received on a LISTENing connection.
struct Notification {
  std::string channel;
  std::string payload;
};

class Connection {
 public:
  /// Connects; throws ConnectionError (with the password redacted).
  /// `prepare` enables the prepared-statement cache.
  Connection(const std::string& conninfo, bool prepare);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs `stmts` in one round trip. `results[i]` receives statement i's
  /// result (results.size() must equal stmts.size()). Statements after a
  /// failed one are skipped by the server. Never throws for server errors:
  /// they come back in the Outcome, so the caller decides how to recover.
  Outcome run(std::span<const Statement> stmts, std::span<Result> results);

  /// Runs one statement in one round trip and returns its result; throws on
  /// error.
  Result exec(const Statement& stmt);

  /// Ends the open transaction, which must have written nothing (no
  /// transaction id), without waiting: sends COMMIT and returns; the reply is
  /// read by whatever uses the connection next. Such a COMMIT cannot fail
  /// (only the connection can, and then nothing was lost), so nobody needs
  /// its answer, and the server is out of the transaction one message later.
  /// tx_status() reports idle from here on.
  void commit_in_background() noexcept;

  /// Runs a multi-statement SQL script (simple protocol, no parameters).
  void exec_script(std::string_view sql);

  /// Runs `COPY ... FROM STDIN` with `data` in the format the COPY names.
  std::int64_t copy_in(std::string_view copy_sql, std::string_view data);

  /// An empty query round trip; false if the connection is unusable.
  bool ping() noexcept;
  /// For an idle connection, without a round trip: true if the server has
  /// closed it (its goodbye, or EOF, is waiting on the socket).
  bool hung_up() noexcept;

  /// After LISTEN: waits up to `timeout` for notifications and appends them;
  /// returns as soon as there is at least one, or when `wake_fd` (if >= 0)
  /// becomes readable. Throws ConnectionError when the connection is lost.
  void await_notifications(std::chrono::milliseconds timeout, int wake_fd,
                           std::vector<Notification>& out);

  [[nodiscard]] bool broken() const noexcept;
  [[nodiscard]] TxStatus tx_status() const noexcept;
  [[nodiscard]] int backend_pid() const noexcept;
  [[nodiscard]] int server_version() const noexcept;
  /// The value libpq uses for connection option `keyword` (e.g.
  /// "keepalives"); empty if none.
  [[nodiscard]] std::string option(std::string_view keyword) const;
  /// A parameter the server reports (PQparameterStatus), e.g.
  /// "in_hot_standby"; "" when it reports no such parameter.
  [[nodiscard]] std::string parameter_status(const char* name) const;

  /// What must be undone before another user may have this connection: the
  /// strongest need of the statements run on it (classify_sql) since the
  /// last clean_up.
  [[nodiscard]] Cleanup cleanup_needed() const noexcept { return cleanup_; }
  /// Undoes that on an idle connection, in one round trip if any; false if
  /// it failed or SQL cannot undo it: then the connection must be closed.
  bool clean_up() noexcept;
  /// Opened by another process (this one is a fork() child of it): must not
  /// be used, and is closed without a word to the server (see
  /// detach_socket). Counts as broken().
  [[nodiscard]] bool inherited() const noexcept {
    return pid_ != current_pid();
  }

  /// When the pool last handed this connection back (for pre-ping).
  std::chrono::steady_clock::time_point last_used{};
  /// The pool's failure epoch when this connection was last known good.
  std::uint64_t epoch = 0;

 private:
  std::string_view prepared_name(std::string_view sql, bool& newly);
  /// Records what a statement sent may leave on the session.
  void note(StateChange change) noexcept;
  /// In a fork() child: puts /dev/null in place of the socket the parent
  /// still uses, so that PQfinish's Terminate cannot end its session; false
  /// if that failed (the PGconn must then be leaked).
  bool detach_socket() noexcept;
  /// Reads the reply of a commit_in_background, if one is outstanding, and
  /// leaves pipeline mode if `then_exit_pipeline` (run() reads it with a
  /// batch sent behind it). Returns the error if the connection is lost
  /// (the server's goodbye, if any) or out of step, else null.
  std::exception_ptr settle(bool then_exit_pipeline) noexcept;

  pg_conn* conn_ = nullptr;
  bool prepare_ = true;
  bool commit_pending_ = false;  // a commit_in_background's reply is unread
  bool unusable_ = false;        // a background COMMIT could not be sent
  Cleanup cleanup_ = Cleanup::none;
  int pid_ = current_pid();  // the process that opened it
  // Names are never reused, even after the cache is forgotten.
  std::uint64_t prepared_serial_ = 0;
  struct Prepared {
    std::string name;
    Cleanup cleanup;  // classify_sql's, kept to skip the scan on reuse
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, Prepared, Hash, std::equal_to<>> prepared_;
};

/// A libpq `message` about `conninfo` with the password hidden: every
/// spelling of it (raw, percent-encoded, backslash-escaped) becomes "***";
/// when the conninfo does not parse, every quoted token (libpq quotes the
/// piece it could not parse) is hidden instead.
std::string redact_message(std::string_view message, std::string_view conninfo);

}  // namespace soundhash::db::detail
