#pragma once
// The exception hierarchy. Every failure the library reports is an `Error`;
// the subclass says what the caller can do about it:
//
//   try { ... } catch (const db::TransientError&) { /* worth retrying */ }
//               catch (const db::IntegrityError& e) { e.constraint(); }
//               catch (const db::ResultError&) { /* a bug in the caller */ }
//
// Two branches: errors the server reported (by SQLSTATE class) and errors
// found on the client (InvalidArgument before sending, ResultError when a
// result does not fit what the code reads from it).
// `TransientError`s are the ones `db_retry` and `Database::transact` retry.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace soundhash::db {

/// Base of every error this library throws. Carries the server's SQLSTATE and
/// diagnostic fields when the server produced the error (empty otherwise).
class Error : public std::runtime_error {
 public:
  /// The server's diagnostic fields of an error (all empty when the error was
  /// raised on the client side).
  struct Fields {
    /// Five-character SQLSTATE, e.g. "40P01".
    std::string sqlstate;
    /// The server's DETAIL line.
    std::string detail;
    /// The server's HINT line.
    std::string hint;
    /// Name of the constraint involved (class 23 errors).
    std::string constraint;
    /// The SQL text of the statement that failed, when one did. Never its
    /// parameters: values may be secrets.
    std::string statement;

    /// Fields with only a SQLSTATE.
    static Fields with_sqlstate(std::string state) {
      Fields f;
      f.sqlstate = std::move(state);
      return f;
    }
  };

  /// An error with `message` (what()) and the server's diagnostic `fields`.
  /// Subclasses inherit this constructor.
  explicit Error(const std::string& message, Fields fields = {})
      : std::runtime_error(message), fields_(std::move(fields)) {}

  /// Five-character SQLSTATE, e.g. "23505"; empty for client-side errors.
  [[nodiscard]] const std::string& sqlstate() const noexcept {
    return fields_.sqlstate;
  }
  /// The server's DETAIL line, if any.
  [[nodiscard]] const std::string& detail() const noexcept {
    return fields_.detail;
  }
  /// The server's HINT line, if any.
  [[nodiscard]] const std::string& hint() const noexcept {
    return fields_.hint;
  }
  /// Name of the violated constraint (class 23 errors), if any.
  [[nodiscard]] const std::string& constraint() const noexcept {
    return fields_.constraint;
  }
  /// The SQL text of the statement that failed (empty if the failure was
  /// not a statement's). Never its parameter values.
  [[nodiscard]] const std::string& statement() const noexcept {
    return fields_.statement;
  }
  /// True when retrying the whole unit of work may succeed.
  [[nodiscard]] virtual bool is_transient() const noexcept { return false; }

 private:
  Fields fields_;
};

/// A failure that may go away on retry (deadlock, lock timeout, serialization
/// failure, lost connection). The transaction it happened in is gone.
class TransientError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] bool is_transient() const noexcept override { return true; }
};

/// The connection was lost or could not be made (class 08, 57P01-57P03,
/// 57P05, or a connection the server closed or libpq reports broken, whatever
/// the SQLSTATE of the server's last message, which sqlstate() keeps).
class ConnectionError : public TransientError {
 public:
  using TransientError::TransientError;
};

/// SQLSTATE 40P01: this transaction was chosen as a deadlock victim.
class DeadlockError : public TransientError {
 public:
  using TransientError::TransientError;
};

/// SQLSTATE 55P03: a lock could not be taken within `lock_timeout` (or NOWAIT).
class LockNotAvailableError : public TransientError {
 public:
  using TransientError::TransientError;
};

/// SQLSTATE 40001: the transaction could not be serialized with concurrent
/// ones (REPEATABLE READ / SERIALIZABLE).
class SerializationError : public TransientError {
 public:
  using TransientError::TransientError;
};

/// Class 23: a constraint rejected the data (unique, foreign key, check...).
class IntegrityError : public Error {
 public:
  using Error::Error;
};

/// Class 22: the data itself is bad (too long, invalid UTF-8, out of range).
class DataError : public Error {
 public:
  using Error::Error;
};

/// Class 42: the SQL is wrong (syntax error, missing table or column).
class ProgrammingError : public Error {
 public:
  using Error::Error;
};

/// SQLSTATE 57014: the statement was cancelled (statement_timeout or a
/// cancel request). Never retried: the timeout would strike again.
class QueryCanceledError : public Error {
 public:
  using Error::Error;
};

/// The connection was lost while COMMIT was in flight: the transaction may or
/// may not have committed. Never retried, because re-running the unit could
/// apply it twice; the caller must check the outcome itself.
class CommitInDoubt : public Error {
 public:
  using Error::Error;
};

/// No pooled connection became free within `Config::acquire_timeout`.
class PoolTimeout : public Error {
 public:
  using Error::Error;
};

/// A value was rejected before anything was sent to the server (a NUL byte in
/// text, an empty id, a non-positive limit, a bad setting...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// A statement of a Pipeline that did not run: an earlier statement of its
/// batch failed (the message names that failure), or the batch failed
/// before reaching it. Read from the statement's Pipeline::Handle; sync()
/// throws the failure itself.
class StatementNotRun : public Error {
 public:
  using Error::Error;
};

/// A result did not fit what the code reads from it: a client-side mistake,
/// never the server's (sqlstate() is empty), never retried. Also: a column
/// asked for by a name or position the result does not have.
class ResultError : public Error {
 public:
  using Error::Error;
};

/// A statement returned another number of rows than the code expects
/// (Result::one() or Result::as<T>() on zero or several rows).
class UnexpectedRowCount : public ResultError {
 public:
  using ResultError::ResultError;
};

/// A NULL was read into a type that cannot hold it; read std::optional<T>.
class UnexpectedNull : public ResultError {
 public:
  using ResultError::ResultError;
};

/// A value could not be converted to the type asked for: another SQL type
/// (text read as an integer), or out of the type's range (70000 read as
/// int16, a year-3000 timestamp read as Timestamp).
class ConversionError : public ResultError {
 public:
  using ResultError::ResultError;
};

/// A queue call (heartbeat, complete_job, fail_job...) named a job that this
/// worker no longer owns: it was rescued after a missed heartbeat, cancelled,
/// finished elsewhere, or never existed. Nothing was changed. Never retried.
class JobNotOwned : public Error {
 public:
  /// `job_id` is the job the call named.
  JobNotOwned(const std::string& message, std::int64_t job_id)
      : Error(message), job_id_(job_id) {}
  /// The job the call named.
  [[nodiscard]] std::int64_t job_id() const noexcept { return job_id_; }

 private:
  std::int64_t job_id_;
};

/// True for the SQLSTATEs that `db_retry` retries: 40001, 40P01, 55P03, class
/// 08 and 57P01/57P02/57P03/57P05. (A connection the server closed is
/// retried whatever its SQLSTATE; that is decided where it is seen.)
[[nodiscard]] bool is_transient_sqlstate(std::string_view sqlstate) noexcept;

/// Throws the `Error` subclass that `sqlstate` maps to (an empty SQLSTATE maps
/// to plain `Error`).
[[noreturn]] void throw_error(std::string message, Error::Fields fields);

}  // namespace soundhash::db
