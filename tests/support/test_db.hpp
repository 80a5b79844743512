#pragma once
// Test support: every test process gets its own fresh database on the
// throwaway server that CTest started (or on SOUNDHASH_TEST_DATABASE_URL), so
// tests are isolated and `ctest -j` is safe. There is no skipping: without a
// server the test fails and says why.

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db.hpp"
#include "soundhash/db/detail/database_access.hpp"
#include "soundhash/db/detail/pool.hpp"

namespace sh_test {

/// The pool of `d`, to lend its connections directly (internal).
inline soundhash::db::detail::Pool& pool(soundhash::db::Database& d) {
  return soundhash::db::detail::DatabaseAccess::pool(d);
}

/// conninfo of the server's admin database.
std::string admin_conninfo();
/// conninfo of this process's own database (created on first use, dropped at
/// exit).
std::string conninfo();
/// A Config for conninfo() whose retry sleeps are recorded instead of slept
/// (see sleeps()) unless `real_sleep`. Prepared statements are off when
/// prepared_statements() says so.
soundhash::db::Config config(bool real_sleep = false);
/// False when SOUNDHASH_TEST_PREPARED_STATEMENTS=0 (the PgBouncer lane:
/// transaction pooling cannot keep prepared statements). A test that builds
/// its own Config must honour it too.
bool prepared_statements();
/// Delays that config()'s sleeper was asked for, in order.
std::vector<std::chrono::nanoseconds> sleeps();
void clear_sleeps();

/// A raw libpq connection, independent of the library under test: used to
/// look at the database from outside and to inject faults.
class Side {
 public:
  explicit Side(const std::string& conninfo = sh_test::conninfo());
  ~Side();
  Side(const Side&) = delete;
  Side& operator=(const Side&) = delete;

  /// Runs SQL (may be several statements); throws std::runtime_error on
  /// failure.
  void exec(const std::string& sql);
  /// First column of the first row as text ("" for NULL / no rows).
  std::string value(const std::string& sql);
  long long count(const std::string& sql) { return std::stoll(value(sql)); }
  /// Kills a backend with pg_terminate_backend and waits until it is gone.
  void terminate(int pid);
  /// Waits until backend `pid` has exited (killed, or timed out by itself);
  /// throws std::runtime_error after `timeout`.
  void wait_gone(int pid, std::chrono::milliseconds timeout);
  PGconn* raw() { return conn_; }

 private:
  PGconn* conn_;
};

/// Captures the "soundhash.db" logger's messages.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  /// "level|message" lines captured so far.
  std::vector<std::string> lines() const;
  bool contains(std::string_view needle) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sh_test

namespace sh_test {

/// A PostgreSQL server of the test's own (tests/support/pg-server), for
/// faults that would disturb other tests: restarts, downtime. With `tls`,
/// the server also speaks TLS on its TCP port with a certificate for
/// `localhost` only, signed by the throwaway CA in ca_file()
/// (SOUNDHASH_PG_TLS=1, see pg-server).
class PrivateServer {
 public:
  /// With `standby_of`, a streaming standby of that server (pg_basebackup).
  explicit PrivateServer(bool tls = false,
                         const PrivateServer* standby_of = nullptr);
  ~PrivateServer();
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  /// The admin conninfo (over the server's private unix socket: no TLS).
  const std::string& conninfo() const { return conninfo_; }
  /// The server's TCP port on 127.0.0.1 (from conninfo()).
  int port() const { return port_; }
  bool tls() const { return tls_; }
  /// The pg-server STATE_DIR of this server.
  const std::string& state_dir() const { return state_; }
  /// The CA that signed the server's certificate (only with `tls`).
  std::string ca_file() const { return state_ + "/ca.crt"; }
  /// An unrelated CA that must not verify the server (only with `tls`).
  std::string wrong_ca_file() const { return state_ + "/wrong-ca.crt"; }
  void restart() { run("restart"); }  ///< pg_ctl restart -m fast
  void down() { run("down"); }        ///< pg_ctl stop -m fast
  void up() { run("up"); }            ///< pg_ctl start
  void promote() { run("promote"); }  ///< pg_ctl promote (a standby)

 private:
  void run(const char* cmd, const std::string& extra = {});
  bool tls_ = false;
  std::string state_;
  std::string conninfo_;
  int port_ = 0;
};

}  // namespace sh_test
