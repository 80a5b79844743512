#include "soundhash/db/session.hpp"

#include <stdexcept>

#include "soundhash/db/database.hpp"
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
    rollback();
    return;
  }
  if (kind_ == Kind::manual) {
    if (in_transaction()) {
      logger().warn(
          "Session closed with uncommitted work; rolling it back (commit() "
          "it explicitly)");
    }
    rollback();
    return;
  }
  commit();
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

Session::CallGuard::CallGuard(Session& session) noexcept : s(session) {
  s.last_error_.clear();
  s.call_active_ = true;
  s.work_before_call_ = s.has_work_;
  s.savepoint_ = false;
  s.committed_in_call_ = false;
}

Session::CallGuard::~CallGuard() {
  // A failed autocommit call is its own unit: nothing of it survives, and
  // the connection goes back.
  if (s.kind_ == Kind::autocommit && std::uncaught_exceptions() > uncaught) {
    s.rollback();
  }
  if (s.savepoint_) s.release_pending_ = true;  // sent with the next batch
  s.savepoint_ = false;
  s.call_active_ = false;
  s.work_before_call_ = false;
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
  if (!call_active_) return call("run", [&] { return run(st); });
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
  batch[n++] = {"COMMIT"};
  const auto outcome = c.run({batch, static_cast<std::size_t>(n)},
                             {results, static_cast<std::size_t>(n)});
  if (!outcome.ok()) {
    // The server may have run the COMMIT before the connection went: unless
    // the statement only read, re-running it could apply it twice.
    bool in_doubt = false;
    std::string what;
    std::string sqlstate;
    try {
      std::rethrow_exception(outcome.error);
    } catch (const ConnectionError& e) {
      // Except when the server's own goodbye (57P01..57P03, sent as it
      // shuts the session down) came before any reply to BEGIN: replies come
      // in order, so then nothing ran.
      const bool goodbye_first =
          outcome.failed == 0 && e.sqlstate().starts_with("57P0");
      in_doubt = !st.plain_read && !goodbye_first;
      what = e.what();
      sqlstate = e.sqlstate();
    } catch (...) {
      in_doubt = !st.plain_read && c.broken();
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

void Session::end_call() {
  if (kind_ == Kind::autocommit) commit();
}

std::int64_t Session::copy_in(std::string_view copy_sql,
                              std::string_view data) {
  if (!call_active_) {
    return call("copy_in", [&] { return copy_in(copy_sql, data); });
  }
  std::int64_t rows = 0;
  simple_query(copy_sql, [&](const std::string& sql) {
    rows = conn_->copy_in(sql, data);
  });
  return rows;
}

void Session::run_script(std::string_view sql) {
  if (!call_active_) return call("run_script", [&] { run_script(sql); });
  simple_query(sql, [&](const std::string& text) { conn_->exec_script(text); });
}

void Session::simple_query(
    std::string_view sql, const std::function<void(const std::string&)>& send) {
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
  if (lost_earlier_work) poisoned_ = last_error_;
  std::rethrow_exception(error);
}

void Session::commit() {
  if (!poisoned_.empty()) {
    std::string why = std::move(poisoned_);
    poisoned_.clear();
    give_back();
    throw TransientError(
        "cannot commit: the transaction was rolled back after a transient "
        "error (" +
        why + ")");
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

void Session::rollback() noexcept {
  poisoned_.clear();
  has_work_ = false;
  savepoint_ = false;
  release_pending_ = false;
  give_back();  // the pool rolls back an open transaction
}

}  // namespace soundhash::db
