#pragma once
// The streaming standby of the throwaway server (CTest fixture pg_standby,
// tests/support/pg-server standby): its conninfo for this test process's
// database, and ways to wait for it and to pause its replay.
#include <libpq-fe.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_db.hpp"

namespace sh_test {

/// The name of this process's own database.
inline std::string own_dbname() {
  PQconninfoOption* opts = PQconninfoParse(conninfo().c_str(), nullptr);
  std::string name;
  for (auto* o = opts; o && o->keyword; ++o) {
    if (std::string_view(o->keyword) == "dbname" && o->val) name = o->val;
  }
  PQconninfoFree(opts);
  return name;
}

/// The standby's conninfo for `dbname` (default: this process's database);
/// "" when the fixture made no standby (SOUNDHASH_TEST_DATABASE_URL).
inline std::string standby_conninfo(std::string dbname = own_dbname()) {
  const char* file = std::getenv("SOUNDHASH_TEST_STANDBY_FILE");
  if (!file) return "";
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line) || line.empty()) return "";
  return line + " dbname=" + dbname;
}

/// Waits until the standby has replayed all the primary has written so far.
inline void wait_replayed(
    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  Side primary(admin_conninfo());
  const std::string lsn = primary.value("SELECT pg_current_wal_insert_lsn()");
  Side standby(standby_conninfo("postgres"));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (standby.value("SELECT pg_last_wal_replay_lsn() >= '" + lsn +
                       "'::pg_lsn") != "t") {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the standby did not replay " + lsn);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// Pauses the standby's replay for its lifetime (it keeps receiving WAL).
class ReplayPause {
 public:
  ReplayPause() : standby_(standby_conninfo("postgres")) {
    standby_.exec("SELECT pg_wal_replay_pause()");
    while (standby_.value("SELECT pg_get_wal_replay_pause_state()") !=
           "paused") {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  ~ReplayPause() { resume(); }
  void resume() {
    if (paused_) standby_.exec("SELECT pg_wal_replay_resume()");
    paused_ = false;
  }

 private:
  Side standby_;
  bool paused_ = true;
};

/// Cuts the standby off from its primary for its lifetime: an empty
/// primary_conninfo stops the WAL receiver (reloaded, no restart). The
/// standby's own setting (pg_basebackup -R) is put back afterwards.
class ReplicationCut {
 public:
  ReplicationCut() : standby_(standby_conninfo("postgres")) {
    conninfo_ = standby_.value("SHOW primary_conninfo");
    set("");
    wait_for_receiver(false);
  }
  ~ReplicationCut() { restore(); }
  void restore() {
    if (!cut_) return;
    cut_ = false;
    set(conninfo_);
    wait_for_receiver(true);
  }

 private:
  void set(const std::string& value) {
    std::string literal = "'";
    for (char c : value) {
      if (c == '\'') literal += '\'';
      literal += c;
    }
    // ALTER SYSTEM takes no parameters and runs outside a transaction.
    standby_.exec("ALTER SYSTEM SET primary_conninfo = " + literal + "'");
    standby_.exec("SELECT pg_reload_conf()");
  }
  void wait_for_receiver(bool streaming) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string want = streaming ? "t" : "f";
    while (standby_.value("SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver "
                          "WHERE status = 'streaming')") != want) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(streaming
                                     ? "the WAL receiver did not come back"
                                     : "the WAL receiver did not stop");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Side standby_;
  std::string conninfo_;
  bool cut_ = true;
};

}  // namespace sh_test
