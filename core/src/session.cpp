// Session: the state machine of a unit of work. Its state is two enums,
// `tx_` (the transaction, across calls) and `call_` (the running outermost
// call); every transition is written out below, next to what causes it.
// What goes over the wire in each round trip is RoundTrip's business.
#include "soundhash/db/session.hpp"

#include <spdlog/logger.h>

#include <stdexcept>
#include <thread>

#include "round_trip.hpp"
#include "slow_log.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/pool.hpp"
#include "soundhash/db/detail/replicas.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/observer.hpp"

namespace soundhash::db {

const void* detail::this_thread_token() noexcept {
  thread_local const char token = 0;
  return &token;
}

// ---- Lifetime -------------------------------------------------------------

Session::Session(Database& db, TxOptions options, Kind kind)
    : db_(db),
      options_(options),
      mode_(kind == Kind::manual       ? Mode::manual
            : kind == Kind::autocommit ? Mode::autocommit
                                       : Mode::scoped),
      uncaught_at_start_(std::uncaught_exceptions()) {}

Session::Session(Database& db, TxOptions options, ForTransact)
    : db_(db),
      options_(options),
      mode_(Mode::transact),
      uncaught_at_start_(std::uncaught_exceptions()) {}

Session::Session(Database& db, const ReadOptions& read, Kind kind)
    : Session(db, TxOptions{.isolation = read.isolation, .read_only = true},
              kind) {
  read_ = read;
}

Session::Session(Database& db, const ReadOptions& read, ForTransact t)
    : Session(db, TxOptions{.isolation = read.isolation, .read_only = true},
              t) {
  read_ = read;
}

Session::~Session() noexcept(false) {
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    if (conn_ || !last_error_.empty()) {
      logger().error("Database session error, rolling back: {}",
                     last_error_.empty()
                         ? std::string("an exception left the session's scope")
                         : last_error_);
    }
    abandon();
    return;
  }
  if (mode_ == Mode::manual) {
    if (in_transaction()) {
      logger().warn(
          "Session closed with uncommitted work; rolling it back (commit() "
          "it explicitly)");
    }
    abandon();
    return;
  }
  commit_unit();
}

Session::Kind Session::kind() const noexcept {
  switch (mode_) {
    case Mode::manual:
      return Kind::manual;
    case Mode::autocommit:
      return Kind::autocommit;
    case Mode::scoped:
    case Mode::transact:
      break;
  }
  return Kind::scoped;
}

// ---- Entry points ---------------------------------------------------------

Result Session::run_in_call(Purpose purpose, std::string_view sql,
                            std::span<const detail::Param> params) {
  return call(purpose == Purpose::read ? "read" : "execute",
              [&] { return run_statement(purpose, sql, params); });
}

void Session::execute_script(std::string_view sql) {
  call("execute_script", [&] {
    run_text(sql, [&](const std::string& text) { conn_->exec_script(text); });
  });
}

std::int64_t Session::copy_in(std::string_view copy_sql,
                              std::string_view data) {
  return call("copy_in", [&] {
    std::int64_t rows = 0;
    run_text(copy_sql, [&](const std::string& text) {
      rows = conn_->copy_in(text, data);
    });
    return rows;
  });
}

void Session::commit() {
  check_may_end("commit");
  ThreadClaim claim(*this, "commit");
  commit_unit();
}

void Session::rollback() {
  check_may_end("rollback");
  ThreadClaim claim(*this, "rollback");
  abandon();
}

void Session::check_may_end(const char* what) const {
  if (owner_.load(std::memory_order_relaxed) == detail::this_thread_token()) {
    throw std::logic_error(
        std::string("Session::") + what +
        "() inside a call: a call is all or nothing, so it cannot end the "
        "transaction it belongs to; end it after the call returns");
  }
  if (mode_ == Mode::transact) {
    throw std::logic_error(
        std::string("Session::") + what +
        "() inside Database::transact: the unit owns its transaction (it "
        "commits when your function returns and rolls back when it throws); "
        "a re-run after a committed half would apply that half twice");
  }
}

// ---- Calls ----------------------------------------------------------------

Session::ThreadClaim::ThreadClaim(Session& session, const char* what)
    : s(session) {
  const void* none = nullptr;
  if (!s.owner_.compare_exchange_strong(none, detail::this_thread_token(),
                                        std::memory_order_acquire)) {
    throw std::logic_error(
        std::string("Session::") + what +
        " while another thread is using the session: a Session belongs to "
        "one thread at a time (take one session per thread)");
  }
}

Session::ThreadClaim::~ThreadClaim() {
  s.owner_.store(nullptr, std::memory_order_release);
}

Session::CallGuard::CallGuard(Session& session, std::string_view name) noexcept
    : s(session), op(name) {
  s.call_op_ = op;
  s.trips_ = 0;
  s.last_rows_ = 0;
  s.call_sqlstate_.clear();
  if (s.observer()) start = std::chrono::steady_clock::now();
  s.last_error_.clear();
  s.depth_ = 1;
  s.call_error_ = nullptr;
  s.call_ = s.tx_ == Tx::clean ? Call::first : Call::later;
}

void Session::CallGuard::finish() {
  // A failure inside the call that its function caught still fails it: the
  // work after the failure was never sent, so success would be a lie.
  if (s.call_error_) std::rethrow_exception(s.call_error_);
  // An autocommit session ends the transaction with its outermost call.
  if (s.mode_ == Mode::autocommit) s.commit_unit();
}

Session::CallGuard::~CallGuard() {
  const bool failed = std::uncaught_exceptions() > uncaught;
  if (failed) s.undo_call();
  if (Observer* o = s.observer()) {
    o->on_statement({.operation = op,
                     .duration = std::chrono::steady_clock::now() - start,
                     .round_trips = s.trips_,
                     .rows = failed ? 0 : s.last_rows_,
                     .ok = !failed,
                     .sqlstate = failed ? std::string_view(s.call_sqlstate_)
                                        : std::string_view()});
  }
  // A savepoint still set is released with the next batch.
  if (s.call_ == Call::guarded || s.call_ == Call::undone_to_savepoint) {
    s.tx_ = Tx::open_release;
  }
  s.call_ = Call::none;
  s.depth_ = 0;
  s.call_error_ = nullptr;
}

void Session::undo_call() noexcept {
  switch (call_) {
    case Call::undone:
    case Call::undone_to_savepoint:
      return;  // fail() did it when the statement failed
    case Call::later:
      call_ = Call::undone;  // no statement of it was sent: nothing to undo
      return;
    case Call::guarded: {
      // Undo just this call; the transaction and earlier work live on.
      ++trips_;
      if (detail::RoundTrip(*conn_, options_)
              .roll_back_to_savepoint(last_error_)) {
        call_ = Call::undone_to_savepoint;
        return;
      }
      call_ = Call::undone;
      lose_transaction(
          "the connection failed while rolling back a failed call");
      return;
    }
    case Call::none:
    case Call::first:
    case Call::committed:
      // Everything in the transaction is the call's.
      call_ = Call::undone;
      end_transaction();
      return;
  }
}

// ---- Statements -----------------------------------------------------------

void Session::check_may_run() const {
  if (call_error_) std::rethrow_exception(call_error_);
  throw_if_lost();
}

void Session::throw_if_lost() const {
  if (tx_ == Tx::lost) {
    throw TransientError(
        "this session's transaction was rolled back after a transient error (" +
        lost_because_ + "); call rollback() before reusing the session");
  }
}

Result Session::run_statement(Purpose purpose, std::string_view sql,
                              std::span<const detail::Param> params) {
  const detail::Statement st{sql, params};
  Result result;
  std::size_t ran = 0;
  int failed = -1;
  run_batch(purpose, {&st, 1}, {&result, 1}, ran, failed);
  return result;
}

void Session::run_batch(Purpose purpose, std::span<const detail::Statement> sts,
                        std::span<Result> results, std::size_t& ran,
                        int& failed) {
  check_may_run();
  if (call_ == Call::committed) {
    throw std::logic_error(
        "Session: a statement after the call's final statement "
        "(execute_final)");
  }
  detail::Connection& c = connection();
  const bool idle = c.tx_status() == detail::TxStatus::idle;
  // execute() and read() end their call when they are a call of their own;
  // execute_final() and ensure() also inside the call they end.
  const bool ends_its_call =
      purpose == Purpose::final_statement || purpose == Purpose::ensure;
  const bool ends_call = depth_ <= (ends_its_call ? 2 : 1);
  const bool leads_read_committed =
      idle && tx_ == Tx::clean &&
      options_.isolation == Isolation::read_committed;

  // The three shortcuts: each saves a round trip or a transaction left open.
  using detail::Wrap;
  Wrap wrap = Wrap::open;
  if (mode_ == Mode::autocommit && ends_call && idle) {
    // An autocommit call's final statement: BEGIN, it and COMMIT at once.
    wrap = purpose == Purpose::read ? Wrap::commit_read : Wrap::commit;
  } else if (leads_read_committed && purpose == Purpose::read) {
    // A leading read: a read-only transaction of its own (see read()).
    wrap = Wrap::read_alone;
  } else if (leads_read_committed && purpose == Purpose::ensure) {
    // A leading ensure: ends its transaction if it wrote nothing.
    wrap = Wrap::ask_wrote;
  }

  detail::RoundTrip trip(c, options_);
  const detail::Prefix prefix =
      wrap == Wrap::read_alone ? detail::Prefix{} : prefix_for(idle);
  detail::SlowLog& slow = db_.slow_log();
  const auto t0 = slow.on() ? std::chrono::steady_clock::now()
                            : std::chrono::steady_clock::time_point{};
  // One statement keeps RoundTrip's single-statement form (an empty one
  // sends only the prefix).
  detail::Trip done = sts.size() == 1 ? trip.send(prefix, wrap, sts.front())
                                      : trip.send(prefix, wrap, sts, results);
  ++trips_;
  if (sts.size() == 1) results.front() = std::move(done.result);
  ran = done.ran;
  failed = done.statement_failed;
  if (slow.on() && !sts.empty()) {
    const auto took = std::chrono::steady_clock::now() - t0;
    if (sts.size() == 1) {
      slow.note(call_op_, sts.front().sql, took);
    } else {
      slow.note(call_op_,
                fmt::format("a pipeline of {} statements, the first: {}",
                            sts.size(), sts.front().sql),
                took);
    }
  }
  note_prefix(done);
  if (!done.ok()) fail(done.error);
  if (observer()) {
    last_rows_ = 0;
    for (std::size_t i = 0; i < ran && i < results.size(); ++i) {
      last_rows_ += results[i].affected_rows();
    }
  }
  switch (wrap) {
    case Wrap::read_alone:
      break;  // nothing left open
    case Wrap::commit:
    case Wrap::commit_read:
      call_ = Call::committed;
      tx_ = Tx::clean;
      // A read's own transaction is not a unit of work (as read_alone).
      if (wrap == Wrap::commit) report_unit(UnitOutcome::committed);
      break;
    case Wrap::ask_wrote:
    case Wrap::open:
      if (!done.ended_early) tx_ = Tx::open;
      break;
  }
}

template <class Send>
void Session::run_text(std::string_view sql, const Send& send) {
  check_may_run();
  detail::Connection& c = connection();
  detail::SlowLog& slow = db_.slow_log();
  const auto t0 = slow.on() ? std::chrono::steady_clock::now()
                            : std::chrono::steady_clock::time_point{};
  const detail::Trip done =
      detail::RoundTrip(c, options_)
          .send_text(prefix_for(c.tx_status() == detail::TxStatus::idle), sql,
                     send);
  ++trips_;
  if (slow.on())
    slow.note(call_op_, sql, std::chrono::steady_clock::now() - t0);
  note_prefix(done);
  if (!done.ok()) fail(done.error);
  tx_ = Tx::open;
}

detail::Prefix Session::prefix_for(bool idle) const noexcept {
  return {.begin = idle,
          .release = tx_ == Tx::open_release,
          .savepoint = call_ == Call::later};
}

void Session::note_prefix(const detail::Trip& trip) noexcept {
  if (trip.released) tx_ = Tx::open;
  if (trip.savepoint_set) call_ = Call::guarded;
}

void Session::fail(std::exception_ptr error) {
  bool transient = false;
  try {
    std::rethrow_exception(error);
  } catch (const CommitInDoubt& e) {
    transient = e.is_transient();
    last_error_ = e.what();
    call_sqlstate_ = e.sqlstate();
    report_unit(UnitOutcome::in_doubt);
  } catch (const Error& e) {
    transient = e.is_transient();
    last_error_ = e.what();
    call_sqlstate_ = e.sqlstate();
  } catch (const std::exception& e) {
    last_error_ = e.what();
  } catch (...) {
    last_error_ = "unknown error";
  }
  // The call is failed from here on (see Session::call), and its work is
  // undone below: to its savepoint, or with the whole transaction.
  if (!call_error_) call_error_ = error;
  if (!transient && call_ == Call::guarded && conn_ && !conn_->broken()) {
    std::string ignored;
    ++trips_;
    if (detail::RoundTrip(*conn_, options_).roll_back_to_savepoint(ignored)) {
      call_ = Call::undone_to_savepoint;
      std::rethrow_exception(error);
    }
  }
  // The whole transaction is gone (or held only this call): roll it back
  // and give the connection back, so a retry starts clean and a backoff
  // sleep holds nothing. A unit that lost earlier work must not go on as if
  // it had not; nor may a transact unit go on after any transient error,
  // even one that lost only its first call: transact must see it to re-run
  // the whole unit.
  const bool lost_earlier_work = call_ == Call::later || call_ == Call::guarded;
  call_ = Call::undone;
  if (lost_earlier_work || (transient && mode_ == Mode::transact)) {
    lose_transaction(last_error_);
  } else {
    end_transaction();
  }
  std::rethrow_exception(error);
}

// ---- Ending the transaction -----------------------------------------------

void Session::commit_unit() {
  if (tx_ == Tx::lost) {
    // The refusal stands until rollback(): a caller that catches this and
    // goes on must not commit the rest of a unit that lost its beginning.
    give_back();
    throw TransientError(
        "cannot commit: the transaction was rolled back after a transient "
        "error (" +
        lost_because_ + "); call rollback() before reusing the session");
  }
  if (!conn_) return;
  const auto status = conn_->tx_status();
  tx_ = Tx::clean;
  if (status == detail::TxStatus::idle) {
    give_back();
    return;
  }
  if (status == detail::TxStatus::in_error) {
    give_back();
    throw Error(
        "cannot commit: the transaction had failed and was rolled back" +
        (last_error_.empty() ? std::string() : " (" + last_error_ + ")"));
  }
  try {
    ++trips_;
    conn_->exec({"COMMIT"});
  } catch (const Error& e) {
    last_error_ = e.what();
    const bool lost =
        conn_->broken() || dynamic_cast<const ConnectionError*>(&e) != nullptr;
    report_unit(lost ? UnitOutcome::in_doubt : UnitOutcome::rolled_back);
    give_back();
    if (lost) {
      throw CommitInDoubt(
          std::string("connection lost during COMMIT; the transaction may or "
                      "may not have committed: ") +
              e.what(),
          Error::Fields::with_sqlstate(e.sqlstate()));
    }
    throw;
  }
  report_unit(UnitOutcome::committed);
  give_back();
}

void Session::abandon() noexcept {
  lost_because_.clear();
  end_transaction();
}

void Session::end_transaction() noexcept {
  tx_ = Tx::clean;
  give_back();  // the pool rolls back an open transaction
}

void Session::lose_transaction(std::string why) noexcept {
  tx_ = Tx::lost;
  lost_because_ = std::move(why);
  give_back();  // the pool rolls back an open transaction
}

// ---- The connection -------------------------------------------------------

detail::Connection& Session::connection() {
  if (conn_) return *conn_;
  // A read session picks its server for each transaction: a standby that
  // meets its options, else the primary.
  if (read_ && db_.replicas()) conn_ = db_.replicas()->acquire(*read_);
  if (!conn_) conn_ = db_.pool().acquire();
  return *conn_;
}

void Session::give_back() noexcept {
  if (!conn_) return;
  // The pool rolls back (or, broken, drops) a transaction left open.
  const bool in_doubt = std::exchange(doubt_reported_, false);
  if (observer() && !in_doubt && conn_->tx_status() != detail::TxStatus::idle) {
    report_unit(UnitOutcome::rolled_back);
  }
  conn_.reset();  // to the pool it came from (the primary's or a standby's)
}

Observer* Session::observer() const noexcept { return db_.observer(); }

void Session::report_unit(UnitOutcome outcome) noexcept {
  if (Observer* o = observer()) {
    if (outcome == UnitOutcome::in_doubt) doubt_reported_ = true;
    o->on_unit(outcome);
  }
}

bool Session::in_transaction() const noexcept {
  return conn_ && conn_->tx_status() != detail::TxStatus::idle;
}

int Session::backend_pid() { return connection().backend_pid(); }

const RetryPolicy& Session::policy() const noexcept {
  return db_.config().retry;
}

}  // namespace soundhash::db
