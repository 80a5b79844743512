#include "soundhash/db/session.hpp"

#include <spdlog/logger.h>

#include <stdexcept>
#include <thread>

#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/pool.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {
namespace {

// One fixed savepoint name suffices: each call's savepoint is released before
// the next call sets its own, so they never nest.
constexpr std::string_view kSavepoint = "SAVEPOINT soundhash_sp";
constexpr std::string_view kRelease = "RELEASE SAVEPOINT soundhash_sp";
constexpr std::string_view kRollbackTo = "ROLLBACK TO SAVEPOINT soundhash_sp";

// Every level is named, READ COMMITTED too: with a plain BEGIN the server's
// default_transaction_isolation would decide, and the shortcuts that end a
// READ COMMITTED transaction early (Session::run) would then split a unit
// that runs at a stricter level.
std::string_view begin_sql(const TxOptions& o) {
  static constexpr std::string_view kBegin[3][2] = {
      {"BEGIN ISOLATION LEVEL READ COMMITTED",
       "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"},
      {"BEGIN ISOLATION LEVEL REPEATABLE READ",
       "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"},
      {"BEGIN ISOLATION LEVEL SERIALIZABLE",
       "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"},
  };
  return kBegin[static_cast<int>(o.isolation)][o.read_only ? 1 : 0];
}

}  // namespace

Session::Session(Database& db, TxOptions options, Kind kind)
    : db_(db),
      options_(options),
      kind_(kind),
      uncaught_at_start_(std::uncaught_exceptions()) {}

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
  if (kind_ == Kind::manual) {
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

const RetryPolicy& Session::policy() const noexcept {
  return db_.config().retry;
}

void Session::throw_if_poisoned() const {
  if (!poisoned_.empty()) {
    throw TransientError(
        "this session's transaction was rolled back after a transient error (" +
        poisoned_ + "); call rollback() before reusing the session");
  }
}

Session::ThreadClaim::ThreadClaim(Session& session, const char* what)
    : s(session) {
  std::thread::id none;
  if (!s.owner_.compare_exchange_strong(none, std::this_thread::get_id(),
                                        std::memory_order_acquire)) {
    throw std::logic_error(
        std::string("Session::") + what +
        " while another thread is using the session: a Session belongs to "
        "one thread at a time (take one session per thread)");
  }
}

Session::ThreadClaim::~ThreadClaim() {
  s.owner_.store(std::thread::id(), std::memory_order_release);
}

Session::CallGuard::CallGuard(Session& session) noexcept : s(session) {
  s.last_error_.clear();
  s.depth_ = 1;
  s.call_error_ = nullptr;
  s.call_undone_ = false;
  s.work_before_call_ = s.has_work_;
  s.savepoint_ = false;
  s.committed_in_call_ = false;
}

void Session::CallGuard::finish() {
  // A failure inside the call that its function caught still fails it: the
  // work after the failure was never sent, so success would be a lie.
  if (s.call_error_) std::rethrow_exception(s.call_error_);
  // An autocommit session ends the transaction with its outermost call.
  if (s.kind_ == Kind::autocommit) s.commit_unit();
}

Session::CallGuard::~CallGuard() {
  if (std::uncaught_exceptions() > uncaught) s.undo_call();
  if (s.savepoint_) s.release_pending_ = true;  // sent with the next batch
  s.savepoint_ = false;
  s.depth_ = 0;
  s.call_error_ = nullptr;
  s.work_before_call_ = false;
}

void Session::undo_call() noexcept {
  if (call_undone_) return;  // fail() did it when the statement failed
  call_undone_ = true;
  if (!conn_) return;
  if (savepoint_) {
    // Undo just this call; the transaction and earlier work live on.
    bool recovered = false;
    try {
      conn_->exec({kRollbackTo});
      recovered = conn_->tx_status() == detail::TxStatus::in_transaction;
    } catch (const std::exception& e) {
      last_error_ = e.what();
    }
    if (recovered) return;
    poisoned_ = "the connection failed while rolling back a failed call";
  } else if (work_before_call_) {
    return;  // no statement of this call ran: nothing to undo
  }
  // A first call: everything in the transaction is the call's (or the
  // rollback to its savepoint failed, and the transaction is lost).
  has_work_ = false;
  savepoint_ = false;
  release_pending_ = false;
  give_back();
}

void Session::check_may_end(const char* what) const {
  if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    throw std::logic_error(
        std::string("Session::") + what +
        "() inside a call: a call is all or nothing, so it cannot end the "
        "transaction it belongs to; end it after the call returns");
  }
  if (kind_ == Kind::managed) {
    throw std::logic_error(
        std::string("Session::") + what +
        "() inside Database::transact: the unit owns its transaction (it "
        "commits when your function returns and rolls back when it throws); "
        "a re-run after a committed half would apply that half twice");
  }
}

detail::Connection& Session::connection() {
  if (!conn_) conn_ = db_.pool().acquire();
  return *conn_;
}

void Session::give_back() noexcept {
  if (conn_) db_.pool().release(std::move(conn_));
}

bool Session::in_transaction() const noexcept {
  return conn_ && conn_->tx_status() != detail::TxStatus::idle;
}

int Session::backend_pid() { return connection().backend_pid(); }

Session::Prefix Session::prefix() const {
  Prefix p;
  if (conn_->tx_status() == detail::TxStatus::idle) {
    p.sql[p.n++] = begin_sql(options_);
    if (!options_.synchronous_commit) {
      p.sql[p.n++] = "SET LOCAL synchronous_commit = off";
    }
  }
  if (release_pending_) {
    p.release = p.n;
    p.sql[p.n++] = kRelease;
  }
  if (work_before_call_ && !savepoint_) {
    p.savepoint = p.n;
    p.sql[p.n++] = kSavepoint;
  }
  return p;
}

void Session::prefix_done(const Prefix& p, int failed_at) {
  const bool all = failed_at < 0;
  if (p.release >= 0 && (all || failed_at > p.release))
    release_pending_ = false;
  if (p.savepoint >= 0 && (all || failed_at > p.savepoint)) savepoint_ = true;
}

Result Session::run(const detail::Statement& st) {
  return call("run", [&] {
    detail::Statement own = st;
    own.last = st.last && depth_ <= kLastOfCall;
    return run_now(own);
  });
}

Result Session::run_now(const detail::Statement& st) {
  if (call_error_) std::rethrow_exception(call_error_);
  throw_if_poisoned();
  if (committed_in_call_) {
    throw std::logic_error(
        "Session: a statement after the call's last statement (execute_last)");
  }
  detail::Connection& c = connection();
  if (kind_ == Kind::autocommit && st.last &&
      c.tx_status() == detail::TxStatus::idle) {
    return run_committed(c, st);
  }
  // The unit's control statements ride in the same round trip as `st`.
  detail::Statement batch[kMaxPrefix + 2];
  Result results[kMaxPrefix + 2];
  int n = 0;
  const bool leads_read_committed =
      c.tx_status() == detail::TxStatus::idle && !has_work_ &&
      options_.isolation == Isolation::read_committed;
  if (leads_read_committed && st.plain_read) {
    // A leading read at READ COMMITTED: its own read-only transaction, one
    // round trip, nothing left open (see read()).
    batch[0] = {begin_sql({.read_only = true})};
    batch[1] = st;
    batch[2] = {"COMMIT"};
    const auto outcome = c.run({batch, 3}, {results, 3});
    if (!outcome.ok()) fail(outcome.error);
    return std::move(results[1]);
  }
  const Prefix p = prefix();
  for (int i = 0; i < p.n; ++i) batch[n++] = {p.sql[i]};
  if (!st.sql.empty()) batch[n++] = st;
  if (n == 0) return {};
  const int at = n - 1;
  // A leading write that may have had nothing to do: ask whether the
  // transaction wrote anything (see execute_last_may_write_nothing).
  const bool ask = leads_read_committed && st.may_write_nothing;
  if (ask) batch[n++] = {"SELECT pg_current_xact_id_if_assigned() IS NULL"};
  const auto outcome = c.run({batch, static_cast<std::size_t>(n)},
                             {results, static_cast<std::size_t>(n)});
  prefix_done(p, outcome.failed);
  if (!outcome.ok()) fail(outcome.error);
  if (ask && results[n - 1].one()[0].as<bool>()) {
    c.commit_in_background();  // nothing to keep open; has_work_ stays false
  } else {
    has_work_ = true;
  }
  return st.sql.empty() ? Result() : std::move(results[at]);
}

Result Session::run_committed(detail::Connection& c,
                              const detail::Statement& st) {
  // Idle and no earlier work: the prefix is BEGIN and its settings.
  const Prefix p = prefix();
  detail::Statement batch[kMaxPrefix + 2];
  Result results[kMaxPrefix + 2];
  int n = 0;
  for (int i = 0; i < p.n; ++i) batch[n++] = {p.sql[i]};
  const int at = n;
  batch[n++] = st;
  const int commit_at = n;
  batch[n++] = {"COMMIT"};
  const auto outcome = c.run({batch, static_cast<std::size_t>(n)},
                             {results, static_cast<std::size_t>(n)});
  if (!outcome.ok()) {
    // The server may have run the COMMIT before the connection went: unless
    // the statement only read, re-running it could apply it twice. Replies
    // come in order, so a server's error reply to a statement before the
    // COMMIT (its goodbye as it was shut down or timed out, say) means the
    // COMMIT never ran, and neither did the statement if BEGIN failed. The
    // goodbye may also stand in for a background COMMIT's reply (index 0).
    bool in_doubt = false;
    std::string what;
    std::string sqlstate;
    const bool commit_never_ran =
        outcome.failed < commit_at && outcome.server_replied;
    try {
      std::rethrow_exception(outcome.error);
    } catch (const ConnectionError& e) {
      const bool goodbye_first =
          outcome.failed == 0 && e.sqlstate().starts_with("57P0");
      in_doubt = !st.plain_read && !goodbye_first && !commit_never_ran;
      what = e.what();
      sqlstate = e.sqlstate();
    } catch (...) {
      in_doubt = !st.plain_read && c.broken() && !commit_never_ran;
    }
    if (in_doubt) {
      fail(std::make_exception_ptr(CommitInDoubt(
          "connection lost during an autocommit call; it may or may not have "
          "committed: " +
              (what.empty() ? std::string("connection broken") : what),
          Error::Fields::with_sqlstate(sqlstate))));
    }
    fail(outcome.error);
  }
  committed_in_call_ = true;
  has_work_ = false;
  return std::move(results[at]);
}

std::int64_t Session::copy_in(std::string_view copy_sql,
                              std::string_view data) {
  return call("copy_in", [&] { return copy_in_now(copy_sql, data); });
}

std::int64_t Session::copy_in_now(std::string_view copy_sql,
                                  std::string_view data) {
  std::int64_t rows = 0;
  simple_query(copy_sql, [&](const std::string& sql) {
    rows = conn_->copy_in(sql, data);
  });
  return rows;
}

void Session::run_script(std::string_view sql) {
  call("run_script", [&] {
    simple_query(sql,
                 [&](const std::string& text) { conn_->exec_script(text); });
  });
}

void Session::simple_query(
    std::string_view sql, const std::function<void(const std::string&)>& send) {
  if (call_error_) std::rethrow_exception(call_error_);
  throw_if_poisoned();
  connection();
  // COPY and scripts cannot be pipelined, but the simple protocol takes the
  // control statements and `sql` as one query string: still one round trip.
  const Prefix p = prefix();
  std::string text;
  for (int i = 0; i < p.n; ++i) (text += p.sql[i]) += "; ";
  text += sql;
  try {
    send(text);
    prefix_done(p, -1);
    has_work_ = true;
  } catch (...) {
    // Control statements only fail with the connection; if it is alive,
    // `sql` itself failed, after the savepoint was set.
    prefix_done(p, conn_->broken() ? 0 : p.n);
    fail(std::current_exception());
  }
}

void Session::fail(std::exception_ptr error) {
  bool transient = false;
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    transient = e.is_transient();
    last_error_ = e.what();
  } catch (const std::exception& e) {
    last_error_ = e.what();
  } catch (...) {
    last_error_ = "unknown error";
  }
  // The call is failed from here on (see Session::call), and its work is
  // undone below: to its savepoint, or with the whole transaction.
  if (!call_error_) call_error_ = error;
  call_undone_ = true;
  if (!transient && savepoint_ && conn_ && !conn_->broken()) {
    // Undo just this call; the transaction and earlier work live on.
    bool recovered = false;
    try {
      conn_->exec({kRollbackTo});
      recovered = conn_->tx_status() == detail::TxStatus::in_transaction;
    } catch (...) {
    }
    if (recovered) std::rethrow_exception(error);
  }
  // The whole transaction is gone (or never had earlier work): roll it back
  // and give the connection back, so a retry starts clean and a backoff
  // sleep holds nothing.
  const bool lost_earlier_work = work_before_call_;
  has_work_ = false;
  savepoint_ = false;
  release_pending_ = false;
  give_back();
  // A unit that lost earlier work must not go on as if it had not; nor may a
  // transact unit go on after any transient error, even one that lost only
  // its first call: transact must see it to re-run the whole unit.
  if (lost_earlier_work || (transient && kind_ == Kind::managed)) {
    poisoned_ = last_error_;
  }
  std::rethrow_exception(error);
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

void Session::commit_unit() {
  if (!poisoned_.empty()) {
    // The refusal stands until rollback(): a caller that catches this and
    // goes on must not commit the rest of a unit that lost its beginning.
    give_back();
    throw TransientError(
        "cannot commit: the transaction was rolled back after a transient "
        "error (" +
        poisoned_ + "); call rollback() before reusing the session");
  }
  if (!conn_) return;
  const auto status = conn_->tx_status();
  has_work_ = false;
  release_pending_ = false;
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
    conn_->exec({"COMMIT"});
  } catch (const Error& e) {
    last_error_ = e.what();
    const bool lost =
        conn_->broken() || dynamic_cast<const ConnectionError*>(&e) != nullptr;
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
  give_back();
}

void Session::abandon() noexcept {
  poisoned_.clear();
  has_work_ = false;
  savepoint_ = false;
  release_pending_ = false;
  give_back();  // the pool rolls back an open transaction
}

}  // namespace soundhash::db
