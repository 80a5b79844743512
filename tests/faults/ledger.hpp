#pragma once
// The invariant every fault test checks: each unit the caller saw commit is
// in the database exactly once, no unit the caller saw fail is there at all
// (a CommitInDoubt may be either), every caller got an answer, and the pool
// and the server are clean afterwards.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <typeinfo>

#include "test_db.hpp"

namespace sh_test {

class Ledger {
 public:
  /// Creates the units table (on the database `side` looks at).
  explicit Ledger(Side& side) : side_(side) {
    side_.exec(
        "CREATE TABLE IF NOT EXISTS units (id text PRIMARY KEY, "
        "rows int NOT NULL);"
        "CREATE TABLE IF NOT EXISTS unit_rows (unit text NOT NULL, n int NOT "
        "NULL)");
  }

  /// Records a unit's work inside its transaction: one row in units (a
  /// retry that re-inserted it would violate the key) and `rows` rows in
  /// unit_rows (a partial unit would leave fewer).
  static void write(soundhash::db::Session& s, const std::string& id,
                    int rows) {
    s.execute("INSERT INTO units VALUES ($1, $2)", id, rows);
    s.execute(
        "INSERT INTO unit_rows SELECT $1, g FROM generate_series(1, $2) g", id,
        rows);
  }

  enum class Outcome { committed, in_doubt, failed };

  /// Runs one unit (`attempt` calls Database::transact) and records how it
  /// ended: committed, in doubt (CommitInDoubt), or failed (any other
  /// Error, which is also a test failure: these workloads must succeed).
  template <class F>
  Outcome record(const std::string& id, F&& attempt) {
    try {
      attempt();
      committed(id);
      return Outcome::committed;
    } catch (const soundhash::db::CommitInDoubt&) {
      in_doubt(id);
      return Outcome::in_doubt;
    } catch (const soundhash::db::QueryCanceledError& e) {
      if (!(tolerate_cancels_ &&
            std::string_view(e.what()).find("due to user request") !=
                std::string_view::npos)) {
        return unexpected(id, e);
      }
      failed(id);  // and check() proves nothing of it is there
      return Outcome::failed;
    } catch (const soundhash::db::Error& e) {
      return unexpected(id, e);
    }
  }

  /// Counts a cancel "due to user request" that nobody sent as a failed
  /// unit, not a test failure. The server reports one, rarely, when a
  /// lock_timeout fires just as the lock wait ends (seen once under TSan
  /// with 8 threads on 4 hot rows); the unit is rolled back like any other.
  void tolerate_spurious_cancels() { tolerate_cancels_ = true; }

  void committed(const std::string& id) { add(ok_, id); }
  void failed(const std::string& id) { add(failed_, id); }
  void in_doubt(const std::string& id) { add(doubt_, id); }

  std::size_t committed_count() const {
    std::lock_guard lock(m_);
    return ok_.size();
  }
  std::size_t failed_count() const {
    std::lock_guard lock(m_);
    return failed_.size();
  }
  std::size_t in_doubt_count() const {
    std::lock_guard lock(m_);
    return doubt_.size();
  }
  /// Failures other than CommitInDoubt, by exception class.
  std::map<std::string, long> errors_by_class() const {
    std::lock_guard lock(m_);
    return errors_;
  }

  /// Checks the invariant against the database (through `side`, or the
  /// constructor's connection).
  void check(Side* other = nullptr) {
    Side& side = other ? *other : side_;
    std::lock_guard lock(m_);
    for (const auto& id : ok_) {
      EXPECT_EQ(
          side.count("SELECT count(*) FROM units WHERE id = '" + id + "'"), 1)
          << "committed unit " << id << " is not there exactly once";
    }
    for (const auto& id : failed_) {
      EXPECT_EQ(
          side.count("SELECT count(*) FROM units WHERE id = '" + id + "'"), 0)
          << "failed unit " << id << " is partly there";
    }
    // Whole units only: every unit present has all its rows, once.
    EXPECT_EQ(side.count("SELECT count(*) FROM units u WHERE rows <> (SELECT "
                         "count(*) FROM unit_rows r WHERE r.unit = u.id)"),
              0);
    EXPECT_EQ(side.count("SELECT count(*) FROM unit_rows r WHERE NOT EXISTS "
                         "(SELECT 1 FROM units u WHERE u.id = r.unit)"),
              0);
    const auto present =
        static_cast<std::size_t>(side.count("SELECT count(*) FROM units"));
    EXPECT_GE(present, ok_.size());
    EXPECT_LE(present, ok_.size() + doubt_.size());
  }

  /// The pool has nothing lent out and the server has no backend of ours
  /// beyond the pool's idle ones, none inside a transaction.
  static void check_clean(soundhash::db::Database& database, Side& side) {
    const auto s = database.pool_stats();
    EXPECT_EQ(s.in_use, 0u);
    EXPECT_LE(s.open, s.max_size);
    EXPECT_EQ(side.count("SELECT count(*) FROM pg_stat_activity WHERE "
                         "application_name = 'soundhash-db' AND datname = "
                         "current_database() AND state <> 'idle'"),
              0);
    EXPECT_LE(side.count("SELECT count(*) FROM pg_stat_activity WHERE "
                         "application_name = 'soundhash-db' AND datname = "
                         "current_database()"),
              static_cast<long long>(s.max_size));
  }

 private:
  Outcome unexpected(const std::string& id, const soundhash::db::Error& e) {
    {
      std::lock_guard lock(m_);
      ++errors_[typeid(e).name()];
    }
    ADD_FAILURE() << id << ": " << typeid(e).name() << ": " << e.what();
    failed(id);
    return Outcome::failed;
  }

  void add(std::set<std::string>& set, const std::string& id) {
    std::lock_guard lock(m_);
    set.insert(id);
  }
  Side& side_;
  mutable std::mutex m_;
  bool tolerate_cancels_ = false;
  std::set<std::string> ok_, failed_, doubt_;
  std::map<std::string, long> errors_;
};

/// A retry policy with real but short sleeps, for fault storms.
inline soundhash::db::Config storm_config(const std::string& conninfo,
                                          int retries = 20) {
  soundhash::db::Config c;
  c.conninfo = conninfo;
  c.pool_size = 8;
  c.acquire_timeout = std::chrono::seconds(30);
  c.retry.max_retries = retries;
  c.retry.initial_delay = std::chrono::milliseconds(5);
  c.retry.max_delay = std::chrono::milliseconds(200);
  c.retry.jitter = 0.5;
  c.prepared_statements = prepared_statements();  // off in the PgBouncer lane
  return c;
}

}  // namespace sh_test
