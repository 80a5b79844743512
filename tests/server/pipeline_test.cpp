// Pipeline: many statements in one round trip, as one call of its session.
// Each session kind gets the same scenarios (results in order, a failure in
// the middle, a transient error retried, an empty pipeline); then the call
// rules that depend on where the pipeline runs, and the handles' errors.
// Runs in the PgBouncer lane too (transaction pooling, no prepared
// statements), except the tests that kill "the session's backend".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

using Kind = db::Session::Kind;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)");
  }
  void TearDown() override {
    const auto s = database.pool_stats();
    EXPECT_EQ(s.in_use, 0u) << "a connection was not given back";
  }
  std::string ids() {
    return side.value(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM "
        "items");
  }
  static constexpr std::string_view kInsert =
      "INSERT INTO items VALUES ($1, $2)";

  sh_test::Side side;
  db::Database database{sh_test::config()};
};

// Holds a row lock from a connection of its own until release(): a pipeline
// that waits for the row with a short lock_timeout fails with 55P03, a
// transient error, without killing anything (so it works behind PgBouncer).
class LockedRow {
 public:
  explicit LockedRow(int id) {
    holder_.exec("BEGIN; SELECT * FROM items WHERE id = " + std::to_string(id) +
                 " FOR UPDATE");
  }
  void release() {
    if (held_) holder_.exec("COMMIT");
    held_ = false;
  }

 private:
  sh_test::Side holder_;
  bool held_ = true;
};

// The same scenarios in each kind of session.
class PipelineKindTest : public PipelineTest,
                         public ::testing::WithParamInterface<Kind> {
 protected:
  static db::Session open(db::Database& d, Kind kind) {
    switch (kind) {
      case Kind::scoped:
        return d.session();
      case Kind::manual:
        return d.manual_session();
      case Kind::autocommit:
        break;
    }
    return d.autocommit_session();
  }
};

TEST_P(PipelineKindTest, RunsStatementsInOrderAndCommitsAsOneCall) {
  {
    auto s = open(database, GetParam());
    auto p = s.pipeline();
    auto a = p.add(kInsert, 1, "a");
    auto b = p.add(kInsert, 2, std::string("b"));  // a temporary: copied
    auto count = p.add("SELECT count(*) FROM items");
    auto names =
        p.add_read("SELECT string_agg(name, '' ORDER BY id) FROM items");
    EXPECT_EQ(p.pending(), 4u);
    p.sync();
    EXPECT_EQ(p.pending(), 0u);
    EXPECT_EQ(a.result().affected_rows(), 1);
    EXPECT_EQ(b.result().affected_rows(), 1);
    EXPECT_EQ(count.result().as<std::int64_t>(), 2) << "runs in order";
    EXPECT_EQ(names.result().as<std::string>(), "ab");
    EXPECT_TRUE(a.ran());
    EXPECT_EQ(ids(), GetParam() == Kind::autocommit ? "1,2" : "")
        << "only an autocommit session commits when the call returns";
    s.commit();
  }
  EXPECT_EQ(ids(), "1,2");
}

TEST_P(PipelineKindTest, AFailedStatementFailsTheCallAndTheRestDoNotRun) {
  auto s = open(database, GetParam());
  auto p = s.pipeline();
  auto first = p.add(kInsert, 1, "a");
  auto dup = p.add(kInsert, 1, "again");
  auto after = p.add(kInsert, 2, "b");
  EXPECT_THROW(p.sync(), db::IntegrityError);
  EXPECT_TRUE(first.ran()) << "it ran, and was undone with the call";
  EXPECT_NO_THROW((void)first.result());
  EXPECT_FALSE(dup.ran());
  EXPECT_THROW((void)dup.result(), db::IntegrityError);
  EXPECT_FALSE(after.ran());
  EXPECT_THROW((void)after.result(), db::StatementNotRun);
  try {
    (void)after.result();
  } catch (const db::StatementNotRun& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate key"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(s.in_transaction()) << "the first call's failure ended it";
  // Nothing of the failed call is kept, and the session goes on.
  s.execute(kInsert, 3, "c");
  s.commit();
  EXPECT_EQ(ids(), "3");
}

TEST_P(PipelineKindTest, KilledBackendBeforeTheBatchIsRetriedWhole) {
  auto s = open(database, GetParam());
  const int pid = s.backend_pid();  // a connection taken, nothing begun
  side.terminate(pid);
  sh_test::clear_sleeps();
  auto p = s.pipeline();
  p.add(kInsert, 1, "a");
  auto count = p.add("SELECT count(*) FROM items");
  p.sync();
  EXPECT_EQ(sh_test::sleeps(), (std::vector<std::chrono::nanoseconds>{500ms}));
  EXPECT_EQ(count.result().as<std::int64_t>(), 1) << "applied once";
  s.commit();
  EXPECT_EQ(ids(), "1");
}

TEST_P(PipelineKindTest, TransientErrorFromASideConnectionIsRetriedWhole) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  LockedRow locked(1);
  std::vector<std::chrono::nanoseconds> sleeps;
  db::Config config = sh_test::config();
  config.retry.sleeper = [&](std::chrono::nanoseconds d) {
    sleeps.push_back(d);
    locked.release();  // the retry finds the row free
  };
  db::Database d{config};
  {
    auto s = open(d, GetParam());
    auto p = s.pipeline();
    p.add("SELECT set_config('lock_timeout', '200ms', true)");
    auto inserted = p.add(kInsert, 2, "b");
    auto updated = p.add("UPDATE items SET name = 'z' WHERE id = 1");
    p.sync();
    EXPECT_EQ(sleeps, (std::vector<std::chrono::nanoseconds>{500ms}));
    EXPECT_EQ(inserted.result().affected_rows(), 1);
    EXPECT_EQ(updated.result().affected_rows(), 1);
    s.commit();
  }
  EXPECT_EQ(ids(), "1,2");
  EXPECT_EQ(side.value("SELECT name FROM items WHERE id = 1"), "z");
}

TEST_P(PipelineKindTest, AnEmptyPipelineSendsNothing) {
  auto s = open(database, GetParam());
  auto p = s.pipeline();
  p.sync();
  p.sync();
  EXPECT_EQ(database.pool_stats().in_use, 0u) << "no connection was taken";
  EXPECT_FALSE(s.in_transaction());
  // Synced again after statements: only the new ones go out.
  auto h = p.add("SELECT 7");
  p.sync();
  p.sync();
  EXPECT_EQ(h.result().as<int>(), 7);
}

TEST_P(PipelineKindTest, ManyStatementsWithParameters) {
  auto s = open(database, GetParam());
  auto p = s.pipeline();
  std::vector<db::Pipeline::Handle> handles;
  for (int i = 0; i < 300; ++i) {
    handles.push_back(p.add(kInsert, i, "n" + std::to_string(i)));
  }
  auto sum = p.add("SELECT sum(id)::bigint FROM items");
  p.sync();
  for (const auto& h : handles) EXPECT_EQ(h.result().affected_rows(), 1);
  EXPECT_EQ(sum.result().as<std::int64_t>(), 299 * 300 / 2);
  s.commit();
  EXPECT_EQ(side.count("SELECT count(*) FROM items"), 300);
}

// Far more than the socket buffers hold, both ways: libpq must read results
// while it still sends statements, or client and server would each wait for
// the other to read.
TEST_P(PipelineKindTest, MoreThanTheSocketBuffersHoldEitherWay) {
  auto s = open(database, GetParam());
  auto p = s.pipeline();
  const std::string payload(4000, 'p');
  std::vector<db::Pipeline::Handle> handles;
  for (int i = 0; i < 5000; ++i) {
    handles.push_back(
        p.add_read("SELECT $1::text || repeat('r', 4000)", payload));
  }
  p.sync();
  for (const auto& h : handles) {
    ASSERT_EQ(h.result().as<std::string>().size(), 8000u);
  }
  s.commit();
}

std::string kind_name(const ::testing::TestParamInfo<Kind>& param) {
  switch (param.param) {
    case Kind::scoped:
      return "scoped";
    case Kind::manual:
      return "manual";
    case Kind::autocommit:
      break;
  }
  return "autocommit";
}

INSTANTIATE_TEST_SUITE_P(Kinds, PipelineKindTest,
                         ::testing::Values(Kind::scoped, Kind::manual,
                                           Kind::autocommit),
                         kind_name);

// ---- Where the pipeline runs
// -------------------------------------------------

TEST_F(PipelineTest, AFailureAfterEarlierWorkRollsBackToTheSavepoint) {
  {
    auto s = database.session();
    s.execute(kInsert, 1, "a");
    auto p = s.pipeline();
    p.add(kInsert, 2, "b");
    p.add(kInsert, 1, "dup");
    EXPECT_THROW(p.sync(), db::IntegrityError);
    EXPECT_TRUE(s.in_transaction()) << "earlier work lives on";
    s.execute(kInsert, 3, "c");
  }
  EXPECT_EQ(ids(), "1,3");
}

TEST_F(PipelineTest, ATransientErrorAfterEarlierWorkLosesTheUnit) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  LockedRow locked(1);
  sh_test::clear_sleeps();
  auto s = database.session();
  s.execute(kInsert, 2, "b");
  auto p = s.pipeline();
  p.add("SELECT set_config('lock_timeout', '100ms', true)");
  p.add("UPDATE items SET name = 'z' WHERE id = 1");
  EXPECT_THROW(p.sync(), db::LockNotAvailableError);
  EXPECT_TRUE(sh_test::sleeps().empty()) << "a later call must not retry alone";
  // The unit cannot be split: the next batch is refused, none of it runs.
  auto refused = p.add(kInsert, 3, "c");
  EXPECT_THROW(p.sync(), db::TransientError);
  EXPECT_THROW((void)refused.result(), db::StatementNotRun);
  s.rollback();
  locked.release();
  EXPECT_EQ(ids(), "1");
}

TEST_F(PipelineTest, InsideACallItJoinsTheCall) {
  auto s = database.autocommit_session();
  struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
  };
  EXPECT_THROW(s.call("outer",
                      [&] {
                        auto p = s.pipeline();
                        p.add(kInsert, 1, "a");
                        p.sync();
                        EXPECT_EQ(ids(), "") << "committed inside the call";
                        throw Boom();
                      }),
               Boom);
  EXPECT_EQ(ids(), "") << "the exception rolled the pipeline back";
  s.call("outer", [&] {
    auto p = s.pipeline();
    p.add(kInsert, 1, "a");
    p.sync();
    s.execute(kInsert, 2, "b");
  });
  EXPECT_EQ(ids(), "1,2");
}

TEST_F(PipelineTest, InsideTransactATransientErrorReRunsTheUnit) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  LockedRow locked(1);
  db::Config config = sh_test::config();
  int sleeps = 0;
  config.retry.sleeper = [&](std::chrono::nanoseconds) {
    ++sleeps;
    locked.release();
  };
  db::Database d{config};
  int runs = 0;
  d.transact([&](db::Session& s) {
    ++runs;
    s.execute(kInsert, 2, "b");
    auto p = s.pipeline();
    p.add("SELECT set_config('lock_timeout', '200ms', true)");
    p.add("UPDATE items SET name = 'z' WHERE id = 1");
    p.sync();
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(sleeps, 1);
  EXPECT_EQ(ids(), "1,2");
}

TEST_F(PipelineTest, ALeadingBatchOfReadsLeavesNothingOpen) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  auto s = database.session();
  auto p = s.pipeline();
  auto a = p.add_read("SELECT name FROM items WHERE id = $1", 1);
  auto b = p.add_read("SELECT count(*) FROM items");
  p.sync();
  EXPECT_EQ(a.result().as<std::string>(), "a");
  EXPECT_EQ(b.result().as<std::int64_t>(), 1);
  EXPECT_FALSE(s.in_transaction());
  // A write among add_read statements of a leading batch is refused.
  p.add_read("SELECT 1");
  p.add_read("INSERT INTO items VALUES (2, 'b')");
  try {
    p.sync();
    ADD_FAILURE() << "a write ran in a read-only batch";
  } catch (const db::Error& e) {
    EXPECT_EQ(e.sqlstate(), "25006");
  }
  EXPECT_EQ(ids(), "1");
}

TEST_F(PipelineTest, AMixedBatchIsAWrite) {
  auto s = database.session();
  auto p = s.pipeline();
  p.add_read("SELECT 1");
  p.add(kInsert, 1, "a");
  p.sync();
  EXPECT_TRUE(s.in_transaction());
  s.commit();
  EXPECT_EQ(ids(), "1");
}

// ---- Handles ---------------------------------------------------------------

TEST_F(PipelineTest, AHandleReadBeforeSyncIsALogicError) {
  auto s = database.session();
  auto p = s.pipeline();
  auto h = p.add("SELECT 1");
  EXPECT_FALSE(h.ran());
  EXPECT_THROW((void)h.result(), std::logic_error);
  p.sync();
  EXPECT_EQ(h.result().as<int>(), 1);
  db::Pipeline::Handle none;
  EXPECT_THROW((void)none.result(), std::logic_error);
  EXPECT_FALSE(none.ran());
}

TEST_F(PipelineTest, AHandleReadAfterItsPipelineIsGoneIsALogicError) {
  auto s = database.session();
  db::Pipeline::Handle h;
  db::Result kept;
  {
    auto p = s.pipeline();
    h = p.add("SELECT 42");
    p.sync();
    kept = h.result();
  }
  EXPECT_THROW((void)h.result(), std::logic_error);
  EXPECT_FALSE(h.ran());
  EXPECT_EQ(kept.as<int>(), 42) << "a Result taken out lives on";
}

TEST_F(PipelineTest, BadArgumentsAreRefusedWhenAdded) {
  auto s = database.session();
  auto p = s.pipeline();
  EXPECT_THROW(p.add(kInsert, 1, std::string("a\0b", 3)), db::InvalidArgument);
  EXPECT_EQ(p.pending(), 0u);
}

TEST_F(PipelineTest, StatementsNeverSyncedAreNeverSent) {
  {
    auto s = database.session();
    auto p = s.pipeline();
    p.add(kInsert, 1, "a");
  }
  EXPECT_EQ(ids(), "");
  EXPECT_EQ(database.pool_stats().open, 0u) << "no connection was taken";
}

}  // namespace
