// Config::from_env and validation (pure logic).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <soundhash/db/config.hpp>

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {
struct Env {
  std::vector<std::string> names;
  void set(const char* n, const char* v) {
    setenv(n, v, 1);
    names.emplace_back(n);
  }
  ~Env() {
    for (auto& n : names) unsetenv(n.c_str());
  }
};
}  // namespace

TEST(Config, FromEnvReadsDatabaseUrlAndOverrides) {
  Env e;
  e.set("DATABASE_URL", "postgresql://u@h/db");
  e.set("SOUNDHASH_DB_POOL_SIZE", "7");
  e.set("SOUNDHASH_DB_ACQUIRE_TIMEOUT_MS", "250");
  e.set("SOUNDHASH_DB_MAX_RETRIES", "0");
  e.set("SOUNDHASH_DB_RETRY_JITTER", "0.1");
  e.set("SOUNDHASH_DB_PREPARED_STATEMENTS", "off");
  const auto c = db::Config::from_env();
  EXPECT_EQ(c.conninfo, "postgresql://u@h/db");
  EXPECT_EQ(c.pool_size, 7u);
  EXPECT_EQ(c.acquire_timeout, 250ms);
  EXPECT_EQ(c.retry.max_retries, 0);
  EXPECT_DOUBLE_EQ(c.retry.jitter, 0.1);
  EXPECT_FALSE(c.prepared_statements);
}

TEST(Config, EmptyDatabaseUrlMeansLibpqDefaults) {
  Env e;
  e.set("DATABASE_URL", "");
  EXPECT_EQ(db::Config::from_env().conninfo, "");
}

TEST(Config, InvalidValueNamesTheVariable) {
  Env e;
  e.set("SOUNDHASH_DB_POOL_SIZE", "many");
  try {
    (void)db::Config::from_env();
    FAIL();
  } catch (const db::InvalidArgument& err) {
    EXPECT_NE(std::string(err.what()).find("SOUNDHASH_DB_POOL_SIZE"),
              std::string::npos);
  }
}

TEST(Config, ZeroPoolIsRejected) {
  Env e;
  e.set("SOUNDHASH_DB_POOL_SIZE", "0");
  EXPECT_THROW((void)db::Config::from_env(), db::InvalidArgument);
  db::Config c;
  c.pool_size = 0;
  EXPECT_THROW(c.validate(), db::InvalidArgument);
}

TEST(Config, BadBoolIsRejected) {
  Env e;
  e.set("SOUNDHASH_DB_PREPARED_STATEMENTS", "maybe");
  EXPECT_THROW((void)db::Config::from_env(), db::InvalidArgument);
}

TEST(Config, SettingsInAUriAreAppliedAndRemoved) {
  db::Config c;
  c.conninfo =
      "postgresql://u@h/db?sslmode=disable&soundhash_pool_size=3&"
      "soundhash_prepared_statements=off&application_name=x";
  c.take_conninfo_settings();
  EXPECT_EQ(c.pool_size, 3u);
  EXPECT_FALSE(c.prepared_statements);
  EXPECT_EQ(c.conninfo,
            "postgresql://u@h/db?sslmode=disable&application_name=x");
  c.conninfo = "postgresql://u@h/db?soundhash_max_retries=0";
  c.take_conninfo_settings();
  EXPECT_EQ(c.retry.max_retries, 0);
  EXPECT_EQ(c.conninfo, "postgresql://u@h/db");
}

TEST(Config, SettingsInKeyValuePairsAreAppliedAndRemoved) {
  db::Config c;
  c.conninfo =
      "host=h soundhash_acquire_timeout_ms = 250 password='a b\\'c' "
      "soundhash_retry_jitter='0.5'";
  c.take_conninfo_settings();
  EXPECT_EQ(c.acquire_timeout, 250ms);
  EXPECT_DOUBLE_EQ(c.retry.jitter, 0.5);
  EXPECT_EQ(c.conninfo, "host=h password='a b\\'c'");
}

TEST(Config, ConninfoOverridesEnvironment) {
  Env e;
  e.set("DATABASE_URL", "host=h soundhash_pool_size=2");
  e.set("SOUNDHASH_DB_POOL_SIZE", "9");
  const auto c = db::Config::from_env();
  EXPECT_EQ(c.pool_size, 2u);
  EXPECT_EQ(c.conninfo, "host=h");
}

TEST(Config, BadConninfoSettingNamesTheKey) {
  db::Config c;
  c.conninfo = "postgresql://h/db?soundhash_pool_size=lots";
  try {
    c.take_conninfo_settings();
    FAIL();
  } catch (const db::InvalidArgument& err) {
    EXPECT_NE(std::string(err.what()).find("soundhash_pool_size"),
              std::string::npos)
        << err.what();
  }
}

TEST(Config, ReplicaSettingsFromEnv) {
  Env e;
  e.set("SOUNDHASH_DB_REPLICA_URL", "host=r1,r2 port=5433 dbname=d");
  e.set("SOUNDHASH_DB_REPLICA_POOL_SIZE", "3");
  e.set("SOUNDHASH_DB_REPLICA_STATUS_TTL_MS", "250");
  e.set("SOUNDHASH_DB_REPLICA_MAX_LAG_MS", "1500");
  const auto c = db::Config::from_env();
  EXPECT_EQ(c.replica_conninfo, "host=r1,r2 port=5433 dbname=d");
  EXPECT_EQ(c.replica_pool_size, 3u);
  EXPECT_EQ(c.replica_status_ttl, 250ms);
  EXPECT_EQ(c.replica_max_lag, 1500ms);
  db::Config zero;
  zero.replica_pool_size = 0;
  EXPECT_THROW(zero.validate(), db::InvalidArgument);
  EXPECT_EQ(db::Config{}.replica_conninfo, "");
  EXPECT_EQ(db::Config{}.replica_status_ttl, 1000ms);
  EXPECT_FALSE(db::Config{}.replica_max_lag.has_value());
}
