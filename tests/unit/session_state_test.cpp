// classify_sql: which SQL may leave session state on a pooled connection
// (pure text; the server side is in tests/server/state_reset_test.cpp).
#include <gtest/gtest.h>

#include <soundhash/db/detail/session_state.hpp>

namespace d = soundhash::db::detail;
using d::Cleanup;

namespace {

Cleanup cleanup(std::string_view sql) { return d::classify_sql(sql).cleanup; }

}  // namespace

TEST(SessionState, SettingsThatOutliveTheTransaction) {
  EXPECT_EQ(cleanup("SET statement_timeout = '5ms'"), Cleanup::reset);
  EXPECT_EQ(cleanup("set search_path to x"), Cleanup::reset);
  EXPECT_EQ(cleanup("SET SESSION statement_timeout = 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("SET ROLE someone"), Cleanup::reset);
  EXPECT_EQ(cleanup("SET SESSION AUTHORIZATION someone"), Cleanup::reset);
  EXPECT_EQ(cleanup("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
            Cleanup::reset);
  EXPECT_EQ(cleanup("RESET statement_timeout"), Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT set_config('a.b', 'c', false)"), Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT pg_catalog.SET_CONFIG('a.b', 'c', false)"),
            Cleanup::reset);
}

TEST(SessionState, TransactionScopedSettingsAreNotFlagged) {
  EXPECT_EQ(cleanup("SET LOCAL statement_timeout = '5ms'"), Cleanup::none);
  EXPECT_EQ(cleanup("set local synchronous_commit = off"), Cleanup::none);
  EXPECT_EQ(cleanup("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            Cleanup::none);
  EXPECT_EQ(cleanup("SET CONSTRAINTS ALL DEFERRED"), Cleanup::none);
  EXPECT_EQ(cleanup("UPDATE t SET x = 1"), Cleanup::none);
  EXPECT_EQ(cleanup("ALTER TABLE t ALTER x SET DEFAULT 1"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT pg_advisory_xact_lock(1)"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT pg_try_advisory_xact_lock_shared(1)"),
            Cleanup::none);
}

TEST(SessionState, LocksListenCursorsTempTables) {
  EXPECT_EQ(cleanup("SELECT pg_advisory_lock(42)"), Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT pg_advisory_lock_shared(42)"), Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT PG_TRY_ADVISORY_LOCK(1, 2)"), Cleanup::reset);
  EXPECT_EQ(cleanup("select pg_try_advisory_lock_shared(1)"), Cleanup::reset);
  EXPECT_EQ(cleanup("LISTEN ch"), Cleanup::reset);
  EXPECT_EQ(cleanup("DECLARE c CURSOR WITH HOLD FOR SELECT 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("CREATE TEMP TABLE t (x int)"), Cleanup::reset);
  EXPECT_EQ(cleanup("create temporary table t as select 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("CREATE GLOBAL TEMPORARY TABLE t (x int)"), Cleanup::reset);
  EXPECT_EQ(cleanup("CREATE OR REPLACE TEMP VIEW v AS SELECT 1"),
            Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT 1 AS x INTO TEMP t"), Cleanup::reset);
  EXPECT_EQ(cleanup("CREATE TABLE pg_temp.t (x int)"), Cleanup::reset);
  EXPECT_EQ(cleanup("DO $$BEGIN PERFORM 1; END$$"), Cleanup::reset);
  EXPECT_EQ(cleanup("CREATE TABLE t (temp int)"), Cleanup::reset)
      << "a false positive: it only costs a round trip";
}

TEST(SessionState, PreparedStatementsNeedDiscardAll) {
  const auto prepare = d::classify_sql("PREPARE p AS SELECT 1");
  EXPECT_EQ(prepare.cleanup, Cleanup::discard_all);
  EXPECT_FALSE(prepare.forgets_prepared);
  for (auto sql : {"DEALLOCATE ALL", "deallocate p", "DISCARD ALL"}) {
    const auto c = d::classify_sql(sql);
    EXPECT_EQ(c.cleanup, Cleanup::discard_all) << sql;
    EXPECT_TRUE(c.forgets_prepared) << sql;
  }
  // These keep prepared statements: the pool's own reset sends two of them.
  for (auto sql : {"DISCARD TEMP", "discard sequences", "DISCARD PLANS"}) {
    const auto c = d::classify_sql(sql);
    EXPECT_EQ(c.cleanup, Cleanup::reset) << sql;
    EXPECT_FALSE(c.forgets_prepared) << sql;
  }
  EXPECT_FALSE(d::classify_sql("RESET ALL; SET SESSION AUTHORIZATION DEFAULT; "
                               "CLOSE ALL; UNLISTEN *; SELECT "
                               "pg_advisory_unlock_all(); DISCARD TEMP; "
                               "DISCARD SEQUENCES")
                   .forgets_prepared);
}

TEST(SessionState, WhatSqlCannotUndoClosesTheConnection) {
  EXPECT_EQ(cleanup("LOAD 'auto_explain'"), Cleanup::close);
  EXPECT_EQ(cleanup("SELECT dblink_connect('c', 'dbname=x')"), Cleanup::close);
  EXPECT_EQ(cleanup("SELECT dblink_connect_u('c', 'dbname=x')"),
            Cleanup::close);
}

TEST(SessionState, LeadingWhitespaceAndCommentsAreSkipped) {
  EXPECT_EQ(cleanup("  \n\t SET x.y = 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("-- a comment\nSET x.y = 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("/* a /* nested */ comment */ SET x.y = 1"),
            Cleanup::reset);
  EXPECT_EQ(cleanup("/* SET x.y = 1 */ SELECT 1"), Cleanup::none);
  EXPECT_EQ(cleanup("-- SET x.y = 1\nSELECT 1"), Cleanup::none);
}

TEST(SessionState, ScriptsAreReadStatementByStatement) {
  EXPECT_EQ(cleanup("SELECT 1; SET x.y = 1"), Cleanup::reset);
  EXPECT_EQ(cleanup("BEGIN; SET LOCAL x.y = 1; SELECT 1; COMMIT"),
            Cleanup::none);
  EXPECT_EQ(cleanup("SELECT 1;;  ;listen ch"), Cleanup::reset);
  EXPECT_EQ(cleanup("SELECT 1; PREPARE p AS SELECT 1; SET x.y = 1"),
            Cleanup::discard_all);
  EXPECT_EQ(cleanup("SET x.y = 1; LOAD 'x'; DEALLOCATE ALL"), Cleanup::close);
  EXPECT_TRUE(
      d::classify_sql("SET x.y = 1; LOAD 'x'; DEALLOCATE ALL").forgets_prepared)
      << "later statements still count when the worst is already known";
}

TEST(SessionState, StringsAndIdentifiersDoNotStartStatements) {
  EXPECT_EQ(cleanup("SELECT ';SET x.y = 1'"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT 'it''s; SET x.y = 1'"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT E'\\'; SET x.y = 1'"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT \"a;SET\" FROM t"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT $$;SET x.y = 1$$"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT $fn$ ; $$ ; SET x.y = 1 $fn$"), Cleanup::none);
  EXPECT_EQ(cleanup("SELECT $1; SET x.y = 1"), Cleanup::reset)
      << "$1 is a parameter, not a dollar quote";
  EXPECT_EQ(cleanup("SELECT 'x'; SET x.y = 1"), Cleanup::reset);
  // A function body's DECLARE and SET are not statements of the script.
  EXPECT_EQ(cleanup("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
                    "DECLARE n int;\nBEGIN\n  RETURN 1;\nEND $$;\n"
                    "SELECT f()"),
            Cleanup::none);
  // Function names count even inside strings (dynamic SQL).
  EXPECT_EQ(cleanup("SELECT 'pg_advisory_lock(1)'"), Cleanup::reset);
}

TEST(SessionState, TheLibrarysOwnStatementsAreClean) {
  for (auto sql :
       {"BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY",
        "SET LOCAL synchronous_commit = off", "SAVEPOINT soundhash_sp",
        "RELEASE SAVEPOINT soundhash_sp", "ROLLBACK TO SAVEPOINT soundhash_sp",
        "COMMIT", "ROLLBACK", "SELECT pg_current_xact_id_if_assigned() IS NULL",
        "SELECT pg_advisory_xact_lock($1)",
        "INSERT INTO channels (channel_id) VALUES ($1) RETURNING id"}) {
    const auto c = d::classify_sql(sql);
    EXPECT_EQ(c.cleanup, Cleanup::none) << sql;
    EXPECT_FALSE(c.forgets_prepared) << sql;
  }
}
