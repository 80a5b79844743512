#include "soundhash/db/detail/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "deadline.hpp"
#include "soundhash/db/config.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db::detail {
namespace {

// Prepared statements beyond this many per connection are sent unnamed, so
// dynamic SQL cannot grow a connection's memory without bound.
constexpr std::size_t kMaxPrepared = 512;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? std::string(v) : std::string();
}

// The server quotes bad input in its messages ('invalid input syntax for
// type integer: "..."'); parameters may be secrets, so each text parameter
// of at least 4 bytes is replaced by its placeholder ($n). Shorter ones
// would mangle messages more than they could hide.
void scrub(std::string& text, std::span<const Param> params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (p.is_null || p.binary || p.size() < 4) continue;
    const std::string_view v(p.value(), p.size());
    const std::string placeholder = "$" + std::to_string(i + 1);
    for (auto at = text.find(v); at != std::string::npos;
         at = text.find(v, at + placeholder.size())) {
      text.replace(at, v.size(), placeholder);
    }
  }
}

// Builds the exception for a failed result (or a failure with no result) of
// `st`: it carries the statement's text, never its parameters.
std::exception_ptr error_from(PGconn* conn, const PGresult* r,
                              const Statement* st = nullptr) {
  Error::Fields f;
  if (st) f.statement = st->sql;
  std::string message;
  if (r) {
    f.sqlstate = field(r, PG_DIAG_SQLSTATE);
    f.detail = field(r, PG_DIAG_MESSAGE_DETAIL);
    f.hint = field(r, PG_DIAG_MESSAGE_HINT);
    f.constraint = field(r, PG_DIAG_CONSTRAINT_NAME);
    message = field(r, PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty()) message = trim(PQresultErrorMessage(r));
  }
  if (message.empty()) message = trim(PQerrorMessage(conn));
  if (message.empty()) message = "unknown libpq failure";
  if (st) {
    scrub(message, st->params);
    scrub(f.detail, st->params);
    scrub(f.hint, st->params);
  }
  // A FATAL (or PANIC) ends the server's session, whatever its SQLSTATE
  // (idle_session_timeout 57P05, idle_in_transaction_session_timeout 25P03,
  // ...); libpq may not have seen the close yet when the message is read.
  const std::string severity =
      r ? field(r, PG_DIAG_SEVERITY_NONLOCALIZED) : std::string();
  const bool lost = PQstatus(conn) == CONNECTION_BAD || severity == "FATAL" ||
                    severity == "PANIC";
  if (f.sqlstate.empty() && lost) {
    f.sqlstate = "08006";  // connection_failure: libpq lost the server
  }
  if (!f.sqlstate.empty()) message += " (SQLSTATE " + f.sqlstate + ")";
  if (lost) {
    // Transient however the server put it; the real SQLSTATE is kept.
    return std::make_exception_ptr(
        ConnectionError(std::move(message), std::move(f)));
  }
  try {
    throw_error(std::move(message), std::move(f));
  } catch (...) {
    return std::current_exception();
  }
}

// For a connection opened before this process was forked from its opener.
std::exception_ptr inherited_error() {
  return std::make_exception_ptr(ConnectionError(
      "connection opened by the parent of this forked process; a child opens "
      "its own",
      Error::Fields::with_sqlstate("08003")));
}

// The next statement's result in a pipeline (libpq ends each statement's
// results with a null; only the first is kept).
PGresult* next_result(PGconn* conn) {
  PGresult* first = nullptr;
  while (PGresult* r = PQgetResult(conn)) {
    if (first == nullptr) {
      first = r;
    } else {
      PQclear(r);
    }
  }
  return first;
}

bool succeeded(const PGresult* r) {
  switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
      return true;
    default:
      return false;
  }
}

// Parameter arrays for libpq, on the stack for the common small case.
struct ParamArrays {
  static constexpr std::size_t kInline = 16;
  const char* values_inline[kInline];
  int lengths_inline[kInline];
  int formats_inline[kInline];
  Oid types_inline[kInline];
  std::vector<const char*> values_heap;
  std::vector<int> lengths_heap, formats_heap;
  std::vector<Oid> types_heap;
  const char** values;
  int* lengths;
  int* formats;
  Oid* types;

  explicit ParamArrays(std::span<const Param> ps) {
    if (ps.size() <= kInline) {
      values = values_inline;
      lengths = lengths_inline;
      formats = formats_inline;
      types = types_inline;
    } else {
      values_heap.resize(ps.size());
      lengths_heap.resize(ps.size());
      formats_heap.resize(ps.size());
      types_heap.resize(ps.size());
      values = values_heap.data();
      lengths = lengths_heap.data();
      formats = formats_heap.data();
      types = types_heap.data();
    }
    for (std::size_t i = 0; i < ps.size(); ++i) {
      values[i] = ps[i].value();
      lengths[i] = ps[i].length();
      formats[i] = ps[i].binary ? 1 : 0;
      types[i] = ps[i].type;
    }
  }
};

}  // namespace

Connection::Connection(const std::string& conninfo, bool prepare)
    : prepare_(prepare) {
  // Our defaults come first so that anything in `conninfo` overrides them.
  // A connect timeout bounds how long an unreachable host can hang a caller
  // (libpq waits forever by default), unless PGCONNECT_TIMEOUT says
  // otherwise.
  //
  // Over TCP, a server that dies without closing its sockets (power loss, a
  // severed network) would otherwise be noticed only after the operating
  // system gives up: minutes for unacknowledged data, hours for an idle
  // wait. Keepalive probes after 15 s of silence, every 5 s, and a 30 s
  // limit on unacknowledged data (tcp_user_timeout, which on Linux also ends
  // the probing) notice it in about 30 s. A live server answers probes
  // whatever its queries are doing, so long statements are not cut short.
  const char* env_timeout = std::getenv("PGCONNECT_TIMEOUT");
  const char* keys[] = {"client_encoding",  "fallback_application_name",
                        "connect_timeout",  "keepalives",
                        "keepalives_idle",  "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout",
                        "dbname",           nullptr};
  const char* values[] = {"UTF8",
                          "soundhash-db",
                          (env_timeout && *env_timeout) ? env_timeout : "10",
                          "1",
                          "15",
                          "5",
                          "3",
                          "30000",
                          conninfo.c_str(),
                          nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr)
    throw ConnectionError("libpq could not allocate a connection");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = trim(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw ConnectionError("could not connect to \"" +
                              redact_conninfo(conninfo) +
                              "\": " + redact_message(msg, conninfo),
                          Error::Fields::with_sqlstate("08001"));
  }
  // Server notices (e.g. "relation already exists, skipping") go to our
  // logger at debug level instead of libpq's default, stderr.
  PQsetNoticeReceiver(
      conn_,
      [](void*, const PGresult* r) {
        logger().debug("server notice: {}", trim(PQresultErrorMessage(r)));
      },
      nullptr);
}

Connection::~Connection() {
  // An inherited one is leaked if its socket cannot be detached.
  if (conn_ && (!inherited() || detach_socket())) PQfinish(conn_);
}

bool Connection::broken() const noexcept {
  return conn_ == nullptr || unusable_ || inherited() ||
         PQstatus(conn_) != CONNECTION_OK;
}

TxStatus Connection::tx_status() const noexcept {
  if (commit_pending_) return TxStatus::idle;  // as soon as the server reads it
  switch (PQtransactionStatus(conn_)) {
    case PQTRANS_IDLE:
      return TxStatus::idle;
    case PQTRANS_ACTIVE:
      return TxStatus::active;
    case PQTRANS_INTRANS:
      return TxStatus::in_transaction;
    case PQTRANS_INERROR:
      return TxStatus::in_error;
    default:
      return TxStatus::unknown;
  }
}

int Connection::backend_pid() const noexcept { return PQbackendPID(conn_); }
int Connection::server_version() const noexcept {
  return PQserverVersion(conn_);
}

std::string Connection::parameter_status(const char* name) const {
  const char* v = PQparameterStatus(conn_, name);
  return v ? v : "";
}

std::string Connection::option(std::string_view keyword) const {
  std::string value;
  PQconninfoOption* opts = PQconninfo(conn_);
  for (auto* o = opts; o && o->keyword; ++o) {
    if (keyword == o->keyword && o->val) value = o->val;
  }
  PQconninfoFree(opts);
  return value;
}

std::string_view Connection::prepared_name(std::string_view sql, bool& newly) {
  newly = false;
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) {
    if (it->second.cleanup != Cleanup::none) note({it->second.cleanup});
    return it->second.name;
  }
  const StateChange change = classify_sql(sql);
  note(change);
  if (change.forgets_prepared || prepared_.size() >= kMaxPrepared) return {};
  newly = true;
  auto name = "sh" + std::to_string(++prepared_serial_);
  return prepared_
      .emplace(std::string(sql), Prepared{std::move(name), change.cleanup})
      .first->second.name;
}

void Connection::commit_in_background() noexcept {
  if (settle(true) || broken()) return;
  if (PQenterPipelineMode(conn_) == 1 &&
      PQsendQueryParams(conn_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr,
                        1) == 1 &&
      PQpipelineSync(conn_) == 1) {  // also sends it
    commit_pending_ = true;
    return;
  }
  // Only a failing connection gets here; what it has queued is unknown, so
  // it must not be used again (the pool drops a broken connection).
  logger().warn("could not send COMMIT: {}", trim(PQerrorMessage(conn_)));
  unusable_ = true;
}

std::exception_ptr Connection::settle(bool then_exit_pipeline) noexcept {
  if (!commit_pending_) return nullptr;
  commit_pending_ = false;
  PGresult* r = next_result(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    // Nothing was written, so nothing is lost. The error (the server's
    // goodbye, if it said one) stands for whatever was sent behind it.
    auto e = error_from(conn_, r);
    PQclear(r);
    return e;
  }
  if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK) {
    logger().warn("background COMMIT failed: {}",
                  trim(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_)));
  }
  PQclear(r);
  r = PQgetResult(conn_);  // the Sync's
  const bool synced = r != nullptr && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
  PQclear(r);
  if (synced && (!then_exit_pipeline || PQexitPipelineMode(conn_) == 1)) {
    return nullptr;
  }
  unusable_ = true;  // out of step with the server: never reuse
  return std::make_exception_ptr(ConnectionError(
      "connection out of step after a background COMMIT; dropping it",
      Error::Fields::with_sqlstate("08006")));
}

Outcome Connection::run(std::span<const Statement> stmts,
                        std::span<Result> results) {
  // Lengths travel as ints: refuse a longer value before anything is sent
  // (encode() already does; this also guards hand-built parameters).
  for (const Statement& s : stmts) {
    for (const Param& p : s.params) checked_length(p.size());
  }
  Outcome out;
  auto fail = [&](int index, std::exception_ptr e) {
    if (out.ok()) {
      out.failed = index;
      out.error = std::move(e);
    }
  };
  if (inherited()) {
    fail(0, inherited_error());
    return out;
  }
  if (PQenterPipelineMode(conn_) != 1) {
    fail(0, error_from(conn_, nullptr));
    return out;
  }

  // Send everything, then one Sync: one round trip for the whole batch.
  constexpr std::size_t kInline = 8;
  bool newly_inline[kInline] = {};
  std::unique_ptr<bool[]> newly_heap;
  bool* newly = newly_inline;
  if (stmts.size() > kInline) {
    newly_heap = std::make_unique<bool[]>(stmts.size());
    newly = newly_heap.get();
  }
  std::string sql;  // libpq wants NUL-terminated SQL; views may not be
  std::size_t sent = 0;
  for (; sent < stmts.size(); ++sent) {
    const Statement& s = stmts[sent];
    ParamArrays a(s.params);
    const int n = static_cast<int>(s.params.size());
    std::string_view name;
    if (prepare_ && s.cacheable) {
      name = prepared_name(s.sql, newly[sent]);
    } else {
      note(classify_sql(s.sql));
    }
    int ok;
    if (!name.empty()) {
      if (newly[sent]) {
        sql.assign(s.sql);
        if (PQsendPrepare(conn_, name.data(), sql.c_str(), n, a.types) != 1) {
          prepared_.erase(sql);
          break;
        }
      }
      ok = PQsendQueryPrepared(conn_, name.data(), n, a.values, a.lengths,
                               a.formats, 1);
    } else {
      sql.assign(s.sql);
      ok = PQsendQueryParams(conn_, sql.c_str(), n, a.types, a.values,
                             a.lengths, a.formats, 1);
    }
    if (ok != 1) break;
  }
  if (sent < stmts.size())
    fail(static_cast<int>(sent), error_from(conn_, nullptr, &stmts[sent]));
  const bool synced = PQpipelineSync(conn_) == 1;
  if (!synced) fail(static_cast<int>(sent), error_from(conn_, nullptr));

  // A background COMMIT's reply is read only now that this batch is sent:
  // the server has both, and the caller waits for one round trip, not two.
  // Replies come in order: if the connection went before the COMMIT's, it
  // went before this batch's too. Whether the server ran the batch is then
  // unknown, as for any failure of the batch's first statement.
  if (auto e = settle(false)) {
    fail(0, std::move(e));
    return out;
  }

  // Read each statement's results (a prepare's result comes first).
  for (std::size_t i = 0; i < sent; ++i) {
    if (newly[i]) {
      PGresult* r = next_result(conn_);
      if (r == nullptr || !succeeded(r)) {
        if (r && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) {
          fail(static_cast<int>(i), error_from(conn_, r, &stmts[i]));
        }
        if (auto it = prepared_.find(stmts[i].sql); it != prepared_.end()) {
          prepared_.erase(it);
        }
      }
      PQclear(r);
    }
    PGresult* r = next_result(conn_);
    if (r == nullptr) {
      fail(static_cast<int>(i), error_from(conn_, nullptr, &stmts[i]));
      if (PQstatus(conn_) == CONNECTION_BAD) break;
      continue;
    }
    if (succeeded(r)) {
      results[i] = Result(r);
    } else {
      if (PQresultStatus(r) != PGRES_PIPELINE_ABORTED && out.ok()) {
        fail(static_cast<int>(i), error_from(conn_, r, &stmts[i]));
        out.server_replied = PQresultErrorField(r, PG_DIAG_SQLSTATE) != nullptr;
      }
      PQclear(r);
    }
  }
  if (synced && PQstatus(conn_) == CONNECTION_OK) {
    // The Sync's own result closes the batch.
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
      fail(static_cast<int>(sent), error_from(conn_, r));
    }
    PQclear(r);
  }
  if (PQstatus(conn_) == CONNECTION_OK) PQexitPipelineMode(conn_);
  if (!out.ok() && PQstatus(conn_) == CONNECTION_BAD && !out.error) {
    out.error = error_from(conn_, nullptr);
  }
  return out;
}

Result Connection::exec(const Statement& stmt) {
  Result r;
  Outcome o = run({&stmt, 1}, {&r, 1});
  if (!o.ok()) std::rethrow_exception(o.error);
  return r;
}

void Connection::exec_script(std::string_view sql) {
  if (inherited()) std::rethrow_exception(inherited_error());
  note(classify_sql(sql));
  if (auto e = settle(true)) std::rethrow_exception(e);
  std::string s(sql);
  PGresult* r = PQexec(conn_, s.c_str());
  const Statement script{sql};
  std::exception_ptr e;
  if (r == nullptr || !succeeded(r)) e = error_from(conn_, r, &script);
  PQclear(r);
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  if (e) std::rethrow_exception(e);
}

std::int64_t Connection::copy_in(std::string_view copy_sql,
                                 std::string_view data) {
  if (inherited()) std::rethrow_exception(inherited_error());
  note(classify_sql(copy_sql));
  if (auto e = settle(true)) std::rethrow_exception(e);
  std::string s(copy_sql);
  const Statement copy{copy_sql};
  PGresult* r = PQexec(conn_, s.c_str());
  if (r == nullptr || PQresultStatus(r) != PGRES_COPY_IN) {
    auto e = error_from(conn_, r, &copy);
    PQclear(r);
    std::rethrow_exception(e);
  }
  PQclear(r);
  constexpr std::size_t kChunk = 1 << 20;
  for (std::size_t off = 0; off < data.size(); off += kChunk) {
    const auto n = std::min(kChunk, data.size() - off);
    if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) {
      break;  // the error surfaces from PQgetResult below
    }
  }
  PQputCopyEnd(conn_, nullptr);
  std::exception_ptr e;
  std::int64_t rows = 0;
  PGresult* done = PQgetResult(conn_);
  if (done == nullptr || PQresultStatus(done) != PGRES_COMMAND_OK) {
    e = error_from(conn_, done, &copy);
  } else {
    rows = std::stoll(PQcmdTuples(done));
  }
  PQclear(done);
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  if (e) std::rethrow_exception(e);
  return rows;
}

bool Connection::ping() noexcept {
  if (settle(true) || broken()) return false;
  PGresult* r = PQexec(conn_, "");
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_EMPTY_QUERY;
  PQclear(r);
  return ok && !broken();
}

bool Connection::hung_up() noexcept {
  // Nothing is expected on an idle connection but a background COMMIT's
  // reply, so anything readable is that, a notice, a notification, or the
  // server hanging up (a FATAL message, then EOF, which may take a second
  // read to see). Reading only buffers it: the reply stays for run().
  for (int i = 0; i < 4 && !broken(); ++i) {
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0) return false;
    if (PQconsumeInput(conn_) == 0) return true;
  }
  return broken();
}

void Connection::await_notifications(std::chrono::milliseconds timeout,
                                     int wake_fd,
                                     std::vector<Notification>& out) {
  if (auto e = settle(true)) std::rethrow_exception(e);
  const auto deadline = deadline_after(timeout);
  auto lost = [this] {
    const std::string why = conn_ ? trim(PQerrorMessage(conn_)) : "";
    throw ConnectionError(
        "the listening connection was lost" + (why.empty() ? "" : ": " + why),
        Error::Fields::with_sqlstate("08006"));
  };
  for (;;) {
    if (broken()) lost();
    // Notifications may already sit in libpq's buffer (they can arrive with
    // any earlier result), so look before waiting.
    while (PGnotify* n = PQnotifies(conn_)) {
      out.push_back({n->relname, n->extra});
      PQfreemem(n);
    }
    if (!out.empty()) return;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int rc = ::poll(fds, wake_fd >= 0 ? 2 : 1,
                          static_cast<int>(std::min<long long>(
                              left.count(), 24LL * 3600 * 1000)));
    if (rc < 0 && errno != EINTR) lost();
    if (rc <= 0) continue;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return;
    if (PQconsumeInput(conn_) == 0) lost();
  }
}

}  // namespace soundhash::db::detail
