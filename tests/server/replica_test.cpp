// Reads on a streaming standby (issue 18): read_session() runs on the
// standby, falls back to the primary when none qualifies (logged once per
// change), refuses writes, skips a standby further behind than max_lag, and
// reads your own writes with a commit token. Replay is paused with
// pg_wal_replay_pause() while the primary writes.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "replica_fixture.hpp"
#include "soundhash/db/detail/replicas.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class Replica : public ::testing::Test {
 protected:
  void SetUp() override {
    standby_ = sh_test::standby_conninfo();
    // Never skipped: ctest starts the standby (fixture pg_standby_start);
    // a run against an external server must give it one too.
    if (standby_.empty()) {
      GTEST_FAIL() << "no standby: SOUNDHASH_TEST_STANDBY_FILE names none "
                      "(run through ctest, which starts one)";
    }
    sh_test::Side p;
    p.exec(
        "DROP TABLE IF EXISTS notes; "
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)");
    sh_test::wait_replayed();
  }

  db::Config config(std::chrono::milliseconds ttl = 1000ms) const {
    auto c = sh_test::config();
    c.replica_conninfo = standby_;
    c.replica_pool_size = 2;
    c.replica_status_ttl = ttl;
    return c;
  }

  static bool on_standby(db::Session& s) {
    return s.read("SELECT pg_is_in_recovery()").one()[0].as<bool>();
  }

  std::string standby_;
};

TEST_F(Replica, ReadSessionRunsOnTheStandby) {
  db::Database database{config()};
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('a'), ('b')");
  });
  sh_test::wait_replayed();
  auto s = database.read_session();
  EXPECT_TRUE(on_standby(s));
  EXPECT_EQ(s.read("SELECT count(*) FROM notes").one()[0].as<std::int64_t>(),
            2);
  EXPECT_NE(s.read_options(), nullptr);
  EXPECT_EQ(database.replica_pool_stats().created, 1u);
  EXPECT_EQ(database.replica_pool_stats().max_size, 2u);
  EXPECT_EQ(database.pool_stats().created, 1u);  // the transact unit only
}

TEST_F(Replica, AWriteThroughAReadSessionIsRefused) {
  for (bool replicas : {true, false}) {
    auto c = config();
    if (!replicas) c.replica_conninfo.clear();
    db::Database d{c};
    auto s = d.read_session();
    try {
      s.execute("INSERT INTO notes (body) VALUES ('x')");
      ADD_FAILURE() << "the write went through";
    } catch (const db::Error& e) {
      EXPECT_EQ(e.sqlstate(), "25006") << e.what();
    }
  }
  sh_test::Side p;
  EXPECT_EQ(p.count("SELECT count(*) FROM notes"), 0);
}

TEST_F(Replica, NoReachableStandbyFallsBackToThePrimaryLoggedOnce) {
  sh_test::LogCapture log;
  auto c = config();
  c.replica_conninfo =
      "host=127.0.0.1 port=1 dbname=x connect_timeout=2";  // nothing listens
  db::Database database{c};
  for (int i = 0; i < 3; ++i) {
    auto s = database.read_session();
    EXPECT_FALSE(on_standby(s));
  }
  int warnings = 0;
  for (const auto& l : log.lines()) {
    if (l.find("fall back to the primary") != std::string::npos) ++warnings;
  }
  EXPECT_EQ(warnings, 1);
  EXPECT_TRUE(log.contains("127.0.0.1:1"));
}

TEST_F(Replica, SeveralHostsTheUnreachableOneIsSkipped) {
  sh_test::LogCapture log;
  // The standby's socket directory and port, after a host nobody serves.
  const auto hosts = db::detail::split_hosts(standby_);
  ASSERT_EQ(hosts.size(), 1u);
  PQconninfoOption* o = PQconninfoParse(standby_.c_str(), nullptr);
  std::string host, port;
  for (auto* p = o; p->keyword; ++p) {
    if (std::string_view(p->keyword) == "host") host = p->val;
    if (std::string_view(p->keyword) == "port") port = p->val;
  }
  PQconninfoFree(o);
  auto c = config();
  c.replica_conninfo = "host=127.0.0.1," + host + " port=1," + port +
                       " user=postgres dbname=" + sh_test::own_dbname();
  db::Database database{c};
  for (int i = 0; i < 4; ++i) {
    auto s = database.read_session();
    EXPECT_TRUE(on_standby(s)) << i;
  }
  const auto status = database.replica_status();
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].server, "127.0.0.1:1");
  EXPECT_FALSE(status[0].reachable);
  EXPECT_FALSE(status[0].error.empty());
  EXPECT_TRUE(status[1].reachable);
  EXPECT_TRUE(status[1].standby);
  ASSERT_TRUE(status[1].lag.has_value());
  EXPECT_GT(status[1].replayed.lsn, 0u);
}

TEST_F(Replica, RepositoriesWorkUnchangedOnAReadSession) {
  db::Database database{config()};
  db::migrate(database);
  database.transact([](db::Session& s) {
    db::VideoRepository repo{s};
    const auto ch = repo.create_channel("UCr", "replica");
    const auto v = repo.create_video("vr1", ch.id, "on a standby");
    std::vector<db::NewFingerprint> fps;
    for (int i = 0; i < 20; ++i) {
      db::NewFingerprint f;
      f.video_id = v.id;
      f.start_time = i * 0.5;
      f.end_time = f.start_time + 0.5;
      f.fingerprint_hash = "h" + std::to_string(i);
      f.fingerprint_data = db::Bytes{std::byte{1}};
      fps.push_back(f);
    }
    repo.create_fingerprints_batch(fps);
  });
  sh_test::wait_replayed();
  std::vector<db::QueryHash> clip;
  for (int i = 5; i < 12; ++i) {
    clip.push_back({"h" + std::to_string(i), (i - 5) * 0.5});
  }
  const std::vector<std::string> hashes = {"h1", "nope", "h7"};
  auto primary = database.session();
  db::VideoRepository on_primary{primary};
  const auto want = on_primary.find_matches(clip, 5);
  const auto want_batch =
      on_primary.find_matching_fingerprints_batch(hashes, 10);
  primary.commit();

  auto s = database.read_session();
  db::VideoRepository repo{s};
  const auto got = repo.find_matches(clip, 5);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(got[0].video_id, want[0].video_id);
  EXPECT_EQ(got[0].matched_hashes, 7);
  EXPECT_DOUBLE_EQ(got[0].offset, want[0].offset);
  const auto batch = repo.find_matching_fingerprints_batch(hashes, 10);
  ASSERT_EQ(batch.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(batch[i].size(), want_batch[i].size()) << i;
    for (std::size_t j = 0; j < batch[i].size(); ++j) {
      EXPECT_EQ(batch[i][j].id, want_batch[i][j].id);
    }
  }
  EXPECT_TRUE(repo.get_video_by_id("vr1").has_value());
  EXPECT_TRUE(on_standby(s));
}

TEST_F(Replica, MaxLagSkipsAPausedStandbyAndIdleIsNotLag) {
  db::Database database{config(50ms)};
  // Bounds of seconds: the standby replicates the whole test server, which
  // the other tests keep busy, so under a full run it trails by up to about
  // a second even when nothing here is paused.
  db::ReadOptions bounded;
  bounded.max_lag = 2s;
  {
    // Caught up and idle for longer than max_lag: no lag.
    std::this_thread::sleep_for(2500ms);
    auto s = database.read_session(bounded);
    EXPECT_TRUE(on_standby(s));
  }
  sh_test::ReplayPause pause;
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('behind')");
  });
  std::this_thread::sleep_for(2500ms);
  {
    auto s = database.read_session(bounded);
    EXPECT_FALSE(on_standby(s)) << "a standby 2.5 s behind was used";
    EXPECT_EQ(s.read("SELECT count(*) FROM notes").one()[0].as<std::int64_t>(),
              1);
  }
  {
    auto s = database.read_session();  // no bound: stale is fine
    EXPECT_TRUE(on_standby(s));
    EXPECT_EQ(s.read("SELECT count(*) FROM notes").one()[0].as<std::int64_t>(),
              0);
  }
  {
    // Config::replica_max_lag is the bound of sessions that set none.
    auto c = config(50ms);
    c.replica_max_lag = 2s;
    db::Database bounded_by_default{c};
    auto s = bounded_by_default.read_session();
    EXPECT_FALSE(on_standby(s));
  }
  pause.resume();
  sh_test::wait_replayed();
  std::this_thread::sleep_for(100ms);  // past the cached measurement
  auto s = database.read_session(bounded);
  EXPECT_TRUE(on_standby(s));
}

TEST_F(Replica, AWriteAfterAnIdlePeriodIsNotReadAsLongLag) {
  // The age of the last replayed commit would be over 2.5 s here; the
  // lag is bounded by when the standby was last seen caught up.
  db::Database database{config(0ms)};
  db::ReadOptions bounded;
  bounded.max_lag = 2s;  // see MaxLagSkipsAPausedStandbyAndIdleIsNotLag
  std::this_thread::sleep_for(2500ms);  // the primary idles
  {
    auto s = database.read_session(bounded);
    EXPECT_TRUE(on_standby(s));  // measured caught up
  }
  sh_test::ReplayPause pause;
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('x')");
  });
  // Received but not replayed: the standby is behind now.
  sh_test::Side standby(sh_test::standby_conninfo());
  for (int i = 0;
       i < 1000 && standby.value("SELECT pg_last_wal_receive_lsn() "
                                 "> pg_last_wal_replay_lsn()") != "t";
       ++i) {
    std::this_thread::sleep_for(1ms);
  }
  auto s = database.read_session(bounded);
  EXPECT_TRUE(on_standby(s)) << "lag taken as the age of the last commit";
}

TEST_F(Replica, AStandbyCutOffFromItsPrimaryIsNotReadAsCaughtUp) {
  // Cut off, a standby has replayed all it received, as a caught-up one has;
  // only its WAL receiver tells them apart.
  db::Database database{config(0ms)};
  db::ReadOptions bounded;
  bounded.max_lag = 2s;  // see MaxLagSkipsAPausedStandbyAndIdleIsNotLag
  {
    auto s = database.read_session(bounded);
    EXPECT_TRUE(on_standby(s));
  }
  sh_test::ReplicationCut cut;
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('unseen')");
  });
  std::this_thread::sleep_for(2500ms);
  {
    auto s = database.read_session(bounded);
    EXPECT_FALSE(on_standby(s)) << "a cut-off standby was read as caught up";
    EXPECT_EQ(s.read("SELECT count(*) FROM notes").one()[0].as<std::int64_t>(),
              1);
  }
  const auto status = database.replica_status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_TRUE(status[0].reachable);
  ASSERT_TRUE(status[0].lag.has_value());
  EXPECT_GT(*status[0].lag, 2s);
  cut.restore();
  sh_test::wait_replayed();
  auto s = database.read_session(bounded);
  EXPECT_TRUE(on_standby(s));
}

TEST_F(Replica, LagIsMeasuredAtMostOncePerTtl) {
  db::Database database{config(60000ms)};
  db::ReadOptions bounded;
  bounded.max_lag = 1000ms;
  for (int i = 0; i < 20; ++i) {
    auto s = database.read_session(bounded);
    EXPECT_TRUE(on_standby(s));
  }
  // One measurement, then the cached one: a paused standby that falls
  // behind is still used until the cache expires (here: not in this test).
  sh_test::ReplayPause pause;
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('x')");
  });
  std::this_thread::sleep_for(1200ms);
  auto s = database.read_session(bounded);
  EXPECT_TRUE(on_standby(s)) << "the lag was measured again within the ttl";
}

TEST_F(Replica, ReadYourWritesWithACommitToken) {
  db::Database database{config()};
  sh_test::ReplayPause pause;
  database.transact([](db::Session& s) {
    s.execute("INSERT INTO notes (body) VALUES ('mine')");
  });
  const db::CommitToken token = database.commit_token();
  EXPECT_EQ(db::CommitToken::parse(token.to_string()), token);
  db::ReadOptions mine;
  mine.after = token;
  mine.after_wait = 100ms;
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto s = database.read_session(mine);
    EXPECT_FALSE(on_standby(s)) << "the paused standby has not replayed it";
    EXPECT_EQ(s.read("SELECT count(*) FROM notes WHERE body = 'mine'")
                  .one()[0]
                  .as<std::int64_t>(),
              1);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  pause.resume();
  mine.after_wait = 10s;
  const auto n = database.read_transact(
      [](db::Session& s) {
        EXPECT_TRUE(on_standby(s));
        return s.read("SELECT count(*) FROM notes WHERE body = 'mine'")
            .one()[0]
            .as<std::int64_t>();
      },
      mine);
  EXPECT_EQ(n, 1);
}

TEST(CommitTokenText, RoundTripsAndRejectsJunk) {
  EXPECT_EQ(db::CommitToken::parse("16/B374D848").lsn, 0x16B374D848u);
  EXPECT_EQ(db::CommitToken{0x16B374D848u}.to_string(), "16/B374D848");
  EXPECT_EQ(db::CommitToken{}.to_string(), "0/0");
  EXPECT_THROW(db::CommitToken::parse("16B374D848"), db::InvalidArgument);
  EXPECT_THROW(db::CommitToken::parse("1/x"), db::InvalidArgument);
  EXPECT_THROW(db::CommitToken::parse("/1"), db::InvalidArgument);
}

TEST(SplitHosts, OneConninfoPerHost) {
  const auto one = db::detail::split_hosts(
      "host=a,b port=5433,5434 dbname=d user=u application_name='x y'");
  ASSERT_EQ(one.size(), 2u);
  EXPECT_NE(one[0].find("host='a'"), std::string::npos) << one[0];
  EXPECT_NE(one[0].find("port='5433'"), std::string::npos) << one[0];
  EXPECT_NE(one[1].find("host='b'"), std::string::npos) << one[1];
  EXPECT_NE(one[1].find("port='5434'"), std::string::npos) << one[1];
  EXPECT_NE(one[1].find("application_name='x y'"), std::string::npos);
  const auto uri = db::detail::split_hosts("postgresql://a:1,b:2/d");
  ASSERT_EQ(uri.size(), 2u);
  EXPECT_NE(uri[1].find("port='2'"), std::string::npos) << uri[1];
  EXPECT_THROW(db::detail::split_hosts("host=a nonsense=1"),
               db::InvalidArgument);
}

}  // namespace
