#include "round_trip.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "soundhash/db/errors.hpp"

namespace soundhash::db::detail {
namespace {

// One fixed savepoint name suffices: each call's savepoint is released before
// the next call sets its own, so they never nest.
constexpr std::string_view kSavepoint = "SAVEPOINT soundhash_sp";
constexpr std::string_view kRelease = "RELEASE SAVEPOINT soundhash_sp";
constexpr std::string_view kRollbackTo = "ROLLBACK TO SAVEPOINT soundhash_sp";
constexpr std::string_view kSyncOff = "SET LOCAL synchronous_commit = off";
constexpr std::string_view kCommit = "COMMIT";
// A transaction without a transaction id has written nothing.
constexpr std::string_view kWroteNothing =
    "SELECT pg_current_xact_id_if_assigned() IS NULL";

// BEGIN, the prefix's settings, RELEASE, SAVEPOINT, and one statement after
// the statements: what a batch adds around them.
constexpr std::size_t kAround = 5;
// A batch of one statement (the common case) needs no heap.
constexpr std::size_t kMaxBatch = kAround + 1;

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

// The batch under construction, and where the prefix's parts sit in it.
struct Batch {
  Statement inline_stmts[kMaxBatch];
  Result inline_results[kMaxBatch];
  std::vector<Statement> heap_stmts;
  std::vector<Result> heap_results;
  Statement* stmts = inline_stmts;
  Result* results = inline_results;
  int n = 0;
  int release_at = -1;
  int savepoint_at = -1;

  // Room for `statements` statements and what goes around them.
  explicit Batch(std::size_t statements) {
    if (statements + kAround > kMaxBatch) {
      heap_stmts.resize(statements + kAround);
      heap_results.resize(statements + kAround);
      stmts = heap_stmts.data();
      results = heap_results.data();
    }
  }
  Batch(const Batch&) = delete;  // points into itself
  Batch& operator=(const Batch&) = delete;

  int add(const Statement& st) {
    stmts[n] = st;
    return n++;
  }
  void add_prefix(const Prefix& p, const TxOptions& options) {
    if (p.begin) {
      add({begin_sql(options)});
      if (!options.synchronous_commit) add({kSyncOff});
    }
    if (p.release) release_at = add({kRelease});
    if (p.savepoint) savepoint_at = add({kSavepoint});
  }
  // Which parts of the prefix went through when statement `failed` failed
  // (-1: none failed).
  void report_prefix(int failed, Trip& trip) const {
    const auto through = [failed](int at) {
      return at >= 0 && (failed < 0 || failed > at);
    };
    trip.released = through(release_at);
    trip.savepoint_set = through(savepoint_at);
  }
};

}  // namespace

Trip RoundTrip::send(const Prefix& prefix, Wrap wrap, const Statement& st) {
  const bool skip_empty = wrap == Wrap::open || wrap == Wrap::ask_wrote;
  const std::size_t n = (skip_empty && st.sql.empty()) ? 0 : 1;
  Result r;
  Trip trip = send(prefix, wrap, {&st, n}, {&r, n});
  trip.result = std::move(r);
  return trip;
}

Trip RoundTrip::send(const Prefix& prefix, Wrap wrap,
                     std::span<const Statement> sts,
                     std::span<Result> results) {
  Batch b(sts.size());
  Trip trip;
  if (wrap == Wrap::read_alone) {
    b.add({begin_sql({.read_only = true})});
  } else {
    b.add_prefix(prefix, options_);
  }
  const int first = b.n;
  for (const Statement& st : sts) b.add(st);
  if (b.n == 0) return trip;
  int after = -1;
  switch (wrap) {
    case Wrap::open:
      break;
    case Wrap::read_alone:
    case Wrap::commit:
    case Wrap::commit_read:
      after = b.add({kCommit});
      break;
    case Wrap::ask_wrote:
      after = b.add({kWroteNothing});
      break;
  }
  const auto count = static_cast<std::size_t>(b.n);
  const Outcome outcome = conn_.run({b.stmts, count}, {b.results, count});
  b.report_prefix(outcome.failed, trip);
  // The statements before the failed one ran (replies come in order).
  const int total = static_cast<int>(sts.size());
  const int ran =
      outcome.ok() ? total : std::clamp(outcome.failed - first, 0, total);
  for (int i = 0; i < ran; ++i) {
    results[static_cast<std::size_t>(i)] = std::move(b.results[first + i]);
  }
  trip.ran = static_cast<std::size_t>(ran);
  if (!outcome.ok()) {
    if (outcome.failed >= first && outcome.failed < first + total) {
      trip.statement_failed = outcome.failed - first;
    }
    trip.error = wrap == Wrap::commit || wrap == Wrap::commit_read
                     ? commit_error(outcome, after, wrap == Wrap::commit)
                     : outcome.error;
    return trip;
  }
  if (wrap == Wrap::ask_wrote && b.results[after].one()[0].as<bool>()) {
    conn_.commit_in_background();  // nothing to keep open
    trip.ended_early = true;
  }
  return trip;
}

std::exception_ptr RoundTrip::commit_error(const Outcome& outcome,
                                           int commit_at,
                                           bool may_have_written) const {
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
    in_doubt = may_have_written && !goodbye_first && !commit_never_ran;
    what = e.what();
    sqlstate = e.sqlstate();
  } catch (...) {
    in_doubt = may_have_written && conn_.broken() && !commit_never_ran;
  }
  if (!in_doubt) return outcome.error;
  return std::make_exception_ptr(CommitInDoubt(
      "connection lost during an autocommit call; it may or may not have "
      "committed: " +
          (what.empty() ? std::string("connection broken") : what),
      Error::Fields::with_sqlstate(sqlstate)));
}

Trip RoundTrip::send_text(const Prefix& prefix, std::string_view sql,
                          const std::function<void(const std::string&)>& send) {
  Batch b(0);
  b.add_prefix(prefix, options_);
  std::string text;
  for (int i = 0; i < b.n; ++i) (text += b.stmts[i].sql) += "; ";
  text += sql;
  Trip trip;
  try {
    send(text);
    b.report_prefix(-1, trip);
  } catch (...) {
    // Control statements only fail with the connection; if it is alive,
    // `sql` itself failed, after the whole prefix went through.
    b.report_prefix(conn_.broken() ? 0 : b.n, trip);
    trip.error = std::current_exception();
  }
  return trip;
}

bool RoundTrip::roll_back_to_savepoint(std::string& error) noexcept {
  try {
    conn_.exec({kRollbackTo});
    return conn_.tx_status() == TxStatus::in_transaction;
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown error";
  }
  return false;
}

}  // namespace soundhash::db::detail
