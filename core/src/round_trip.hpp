#pragma once
// One round trip of a Session: a statement together with the control
// statements of its unit (BEGIN, RELEASE, SAVEPOINT, COMMIT), sent as one
// batch. The Session decides what goes out (its state machine); this class
// only builds the batch, sends it and says how far it got.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/result.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db::detail {

/// The unit's control statements that go out ahead of a statement.
struct Prefix {
  bool begin = false;      ///< BEGIN with the unit's options (none is open)
  bool release = false;    ///< RELEASE the savepoint of the call before
  bool savepoint = false;  ///< SAVEPOINT for the running call
};

/// What follows the statement in its round trip.
enum class Wrap : std::uint8_t {
  /// Nothing: the transaction stays open.
  open,
  /// A read-only transaction of its own around the statement (BEGIN READ
  /// ONLY, statement, COMMIT); takes no prefix.
  read_alone,
  /// COMMIT: the statement is committed in the same round trip. A lost
  /// connection leaves it in doubt (CommitInDoubt).
  commit,
  /// COMMIT, for a statement that only reads: never in doubt.
  commit_read,
  /// The question whether the transaction wrote anything; if it did not,
  /// the transaction ends at once, its COMMIT sent in the background.
  ask_wrote,
};

/// What a round trip did.
struct Trip {
  /// The batch's failure, if any (for Wrap::commit possibly turned into
  /// CommitInDoubt).
  std::exception_ptr error;
  Result result;  ///< the statement's (send of one statement)
  /// send of several statements: how many of them ran and have their result
  /// (all of them when only what follows them failed), and which one failed
  /// (-1: none did; the failure was in what went before or after them).
  std::size_t ran = 0;
  int statement_failed = -1;
  bool released = false;       ///< the RELEASE went through
  bool savepoint_set = false;  ///< the SAVEPOINT went through
  /// Wrap::ask_wrote found nothing written and ended the transaction.
  bool ended_early = false;
  [[nodiscard]] bool ok() const noexcept { return !error; }
};

/// Builds and sends one round trip on a connection, for a unit with the
/// given options.
class RoundTrip {
 public:
  RoundTrip(Connection& conn, const TxOptions& options) noexcept
      : conn_(conn), options_(options) {}

  /// Sends `prefix`, `st` and what `wrap` adds as one pipelined batch. An
  /// empty `st` in Wrap::open or Wrap::ask_wrote sends only the prefix.
  Trip send(const Prefix& prefix, Wrap wrap, const Statement& st);

  /// Sends `prefix`, `sts` and what `wrap` adds as one pipelined batch (a
  /// Pipeline's statements: `results[i]` receives statement i's result).
  /// Trip::ran and Trip::statement_failed say how far they got.
  Trip send(const Prefix& prefix, Wrap wrap, std::span<const Statement> sts,
            std::span<Result> results);

  /// Sends `prefix` and `sql` as one simple-protocol query string through
  /// `send` (COPY and scripts cannot be pipelined): still one round trip.
  Trip send_text(const Prefix& prefix, std::string_view sql,
                 const std::function<void(const std::string&)>& send);

  /// Rolls back to the running call's savepoint; true if the transaction
  /// lives on. `error` receives the failure, if any.
  bool roll_back_to_savepoint(std::string& error) noexcept;

 private:
  /// For Wrap::commit: the error to report when the batch failed, which is
  /// CommitInDoubt when the COMMIT may have run.
  std::exception_ptr commit_error(const Outcome& outcome, int commit_at,
                                  bool may_have_written) const;

  Connection& conn_;
  const TxOptions& options_;
};

}  // namespace soundhash::db::detail
