// Each SQLSTATE the design names, provoked on the real server, surfaces as
// its exception class with its sqlstate() and the server's message.
#include <gtest/gtest.h>

#include <barrier>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::string_literals;

namespace {

db::Config no_retry() {
  auto c = sh_test::config();
  c.retry.max_retries = 0;
  return c;
}

class Errors : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec(
        "CREATE TABLE parent (id int PRIMARY KEY);"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES "
        "parent,"
        " code varchar(3));"
        "INSERT INTO parent VALUES (1), (2);");
  }
  template <class E>
  E expect_error(const std::function<void()>& fn, const std::string& state,
                 const std::string& message_part) {
    try {
      fn();
    } catch (const E& e) {
      EXPECT_EQ(e.sqlstate(), state);
      EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos)
          << e.what();
      return e;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception for " << state << ": "
                    << typeid(e).name() << ": " << e.what();
      throw;
    }
    ADD_FAILURE() << "no exception for " << state;
    throw std::runtime_error("no exception");
  }

  sh_test::Side side;
  db::Database database{no_retry()};
};

}  // namespace

TEST_F(Errors, UniqueViolation23505) {
  auto e = expect_error<db::IntegrityError>(
      [&] { database.session().execute("INSERT INTO parent VALUES (1)"); },
      "23505", "duplicate key value violates unique constraint");
  EXPECT_EQ(e.constraint(), "parent_pkey");
  EXPECT_NE(e.detail().find("(id)=(1)"), std::string::npos);
  EXPECT_FALSE(e.is_transient());
}

TEST_F(Errors, ForeignKeyViolation23503) {
  auto e = expect_error<db::IntegrityError>(
      [&] { database.session().execute("INSERT INTO child VALUES (1, 99)"); },
      "23503", "violates foreign key constraint");
  EXPECT_EQ(e.constraint(), "child_parent_id_fkey");
}

TEST_F(Errors, StringTooLong22001) {
  expect_error<db::DataError>(
      [&] {
        database.session().execute("INSERT INTO child VALUES (1, 1, $1)",
                                   "toolong"s);
      },
      "22001", "value too long for type character varying(3)");
}

TEST_F(Errors, InvalidUtf8_22021) {
  expect_error<db::DataError>(
      [&] {
        database.session().execute("INSERT INTO child VALUES (1, 1, $1)",
                                   "\xff\xfe"s);
      },
      "22021", "invalid byte sequence for encoding \"UTF8\"");
}

TEST_F(Errors, SyntaxError42601) {
  expect_error<db::ProgrammingError>(
      [&] { database.session().execute("SELEC 1"); }, "42601",
      "syntax error at or near \"SELEC\"");
}

TEST_F(Errors, UndefinedTable42P01) {
  expect_error<db::ProgrammingError>(
      [&] { database.session().execute("SELECT * FROM no_such_table"); },
      "42P01", "relation \"no_such_table\" does not exist");
}

TEST_F(Errors, Deadlock40P01) {
  std::barrier both_locked(2);
  std::atomic<int> deadlocks{0}, committed{0};
  auto worker = [&](int first, int second) {
    try {
      auto s = database.session();
      s.execute("UPDATE parent SET id = id WHERE id = $1", first);
      both_locked.arrive_and_wait();
      s.execute("UPDATE parent SET id = id WHERE id = $1", second);
      s.commit();
      ++committed;
    } catch (const db::DeadlockError& e) {
      EXPECT_EQ(e.sqlstate(), "40P01");
      EXPECT_NE(std::string(e.what()).find("deadlock detected"),
                std::string::npos);
      EXPECT_TRUE(e.is_transient());
      ++deadlocks;
    }
  };
  std::thread a(worker, 1, 2), b(worker, 2, 1);
  a.join();
  b.join();
  EXPECT_EQ(deadlocks.load(), 1);
  EXPECT_EQ(committed.load(), 1);
}

TEST_F(Errors, LockNotAvailable55P03) {
  side.exec("BEGIN; SELECT * FROM parent WHERE id = 1 FOR UPDATE;");
  expect_error<db::LockNotAvailableError>(
      [&] {
        auto s = database.session();
        s.execute("SET LOCAL lock_timeout = '50ms'");
        s.execute("UPDATE parent SET id = id WHERE id = 1");
      },
      "55P03", "canceling statement due to lock timeout");
  side.exec("ROLLBACK");
}

TEST_F(Errors, AdminShutdown57P01) {
  auto s = database.session();
  const int pid = s.backend_pid();
  side.terminate(pid);
  auto e = expect_error<db::ConnectionError>(
      [&] { s.execute("SELECT 1"); }, "57P01",
      "terminating connection due to administrator command");
  EXPECT_TRUE(e.is_transient());
}

TEST_F(Errors, SerializationFailure40001) {
  auto s = database.session({.isolation = db::Isolation::repeatable_read});
  s.execute("SELECT * FROM parent");  // takes the snapshot
  side.exec("UPDATE parent SET id = 3 WHERE id = 2");
  expect_error<db::SerializationError>(
      [&] { s.execute("UPDATE parent SET id = 4 WHERE id = 2"); }, "40001",
      "could not serialize access due to concurrent update");
  s.rollback();
}

TEST_F(Errors, StatementTimeout57014IsNotTransient) {
  auto e = expect_error<db::QueryCanceledError>(
      [&] {
        auto s = database.session();
        s.execute("SET LOCAL statement_timeout = '50ms'");
        s.execute("SELECT pg_sleep(5)");
      },
      "57014", "canceling statement due to statement timeout");
  EXPECT_FALSE(e.is_transient());
}

TEST_F(Errors, NulByteIsRejectedBeforeSending) {
  auto s = database.session();
  EXPECT_THROW(s.execute("INSERT INTO child VALUES (1, 1, $1)", "a\0b"s),
               db::InvalidArgument);
  // Nothing was sent, nothing broke: the session still works and commits.
  s.execute("INSERT INTO child VALUES (2, 1, 'ok')");
  s.commit();
  EXPECT_EQ(side.count("SELECT count(*) FROM child"), 1);
}

TEST_F(Errors, ConnectFailureIsConnectionErrorWithoutPassword) {
  db::Config c;
  c.conninfo =
      "host=127.0.0.1 port=1 user=u password=hunter2 connect_timeout=2";
  c.retry.max_retries = 0;
  db::Database bad(c);
  try {
    bad.session().execute("SELECT 1");
    FAIL();
  } catch (const db::ConnectionError& e) {
    EXPECT_EQ(e.sqlstate(), "08001");
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("password=***"), std::string::npos)
        << e.what();
  }
}
