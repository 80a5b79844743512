// SQLSTATE -> exception class mapping (pure logic).
#include <gtest/gtest.h>

#include <soundhash/db/errors.hpp>

namespace db = soundhash::db;

namespace {

template <class Expected>
void expect_maps(const std::string& state, bool transient) {
  try {
    db::throw_error("msg", db::Error::Fields::with_sqlstate(state));
    FAIL() << "throw_error returned";
  } catch (const Expected& e) {
    EXPECT_EQ(e.sqlstate(), state);
    EXPECT_STREQ(e.what(), "msg");
    EXPECT_EQ(e.is_transient(), transient) << state;
    EXPECT_EQ(db::is_transient_sqlstate(state), transient) << state;
  } catch (const std::exception& e) {
    FAIL() << state << " mapped to the wrong class: " << typeid(e).name();
  }
}

}  // namespace

TEST(ErrorMapping, TransientStates) {
  expect_maps<db::SerializationError>("40001", true);
  expect_maps<db::DeadlockError>("40P01", true);
  expect_maps<db::LockNotAvailableError>("55P03", true);
  expect_maps<db::ConnectionError>("08000", true);
  expect_maps<db::ConnectionError>("08003", true);
  expect_maps<db::ConnectionError>("08006", true);
  expect_maps<db::ConnectionError>("57P01", true);
  expect_maps<db::ConnectionError>("57P02", true);
  expect_maps<db::ConnectionError>("57P03", true);
  // idle_session_timeout: always FATAL, the server has closed the session.
  expect_maps<db::ConnectionError>("57P05", true);
}

TEST(ErrorMapping, TransientSubclassesAreTransientErrors) {
  EXPECT_THROW(db::throw_error("x", db::Error::Fields::with_sqlstate("40P01")),
               db::TransientError);
  EXPECT_THROW(db::throw_error("x", db::Error::Fields::with_sqlstate("08006")),
               db::TransientError);
}

TEST(ErrorMapping, NeverRetriedStates) {
  expect_maps<db::IntegrityError>("23505", false);
  expect_maps<db::IntegrityError>("23503", false);
  expect_maps<db::IntegrityError>("23514", false);
  expect_maps<db::DataError>("22001", false);
  expect_maps<db::DataError>("22021", false);
  expect_maps<db::DataError>("22P02", false);
  expect_maps<db::ProgrammingError>("42601", false);
  expect_maps<db::ProgrammingError>("42P01", false);
  expect_maps<db::QueryCanceledError>("57014", false);
  expect_maps<db::Error>("53300", false);
  expect_maps<db::Error>("XX000", false);
  expect_maps<db::Error>("25P02", false);
}

TEST(ErrorMapping, OnlyExactStatesAreTransient) {
  EXPECT_FALSE(db::is_transient_sqlstate(""));
  EXPECT_FALSE(db::is_transient_sqlstate("4000"));
  EXPECT_FALSE(db::is_transient_sqlstate("40002"));  // integrity violation
  EXPECT_FALSE(
      db::is_transient_sqlstate("40003"));  // statement completion unknown
  EXPECT_FALSE(db::is_transient_sqlstate("57P04"));
  EXPECT_FALSE(db::is_transient_sqlstate("55000"));
}

TEST(ErrorMapping, FieldsAreKept) {
  db::Error::Fields f;
  f.sqlstate = "23505";
  f.detail = "Key (id)=(1) already exists.";
  f.hint = "h";
  f.constraint = "t_pkey";
  try {
    db::throw_error("dup", f);
  } catch (const db::IntegrityError& e) {
    EXPECT_EQ(e.detail(), f.detail);
    EXPECT_EQ(e.hint(), "h");
    EXPECT_EQ(e.constraint(), "t_pkey");
  }
}

TEST(ErrorMapping, ClientSideErrorsAreNotTransient) {
  EXPECT_FALSE(db::CommitInDoubt("x").is_transient());
  EXPECT_FALSE(db::PoolTimeout("x").is_transient());
  EXPECT_FALSE(db::InvalidArgument("x").is_transient());
}
