// Bundled migrations: applied once, recorded, idempotent, and serialised
// across processes.
#include "soundhash/db/migrations.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_db.hpp"

namespace db = soundhash::db;

// Database::migrate() stays as a deprecated forwarder to the domain's
// migrate(Database&), so code written against 0.1 keeps working.
TEST(Migrations, DeprecatedDatabaseMethodsForward) {
  db::Database database{sh_test::config()};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(database.schema_version(), 0);
  EXPECT_EQ(database.migrate(), static_cast<int>(db::migrations().size()));
  EXPECT_EQ(database.schema_version(), db::migrations().back().version);
#pragma GCC diagnostic pop
}

TEST(Migrations, ApplyOnceAndRecord) {
  db::Database database{sh_test::config()};
  EXPECT_EQ(db::schema_version(database), 0);
  const int applied = db::migrate(database);
  EXPECT_EQ(applied, 16);
  EXPECT_EQ(db::schema_version(database), 16);
  EXPECT_EQ(db::migrate(database), 0) << "migrate() must be idempotent";
  sh_test::Side side;
  EXPECT_EQ(side.value("SELECT string_agg(version::text || ':' || name, ',' "
                       "ORDER BY version) FROM soundhash_schema_migrations"),
            "1:initial schema,2:race-free job creation,3:work queue,"
            "4:delayed wake-ups,5:purge with creation locks,"
            "6:claims by job type,7:indexes only their own queries use,"
            "8:parity with soundhash python,"
            "9:creation that yields to a unique active index,"
            "10:match index,11:periodic jobs,12:concurrency limits,"
            "13:cancellation timeouts and error history,"
            "14:schedule timeouts,15:concurrency limits per key,"
            "16:per-key limits decided per key");
  for (const char* table : {"channels", "videos", "audio_fingerprints",
                            "match_results", "processing_jobs"}) {
    EXPECT_EQ(side.value(std::string("SELECT to_regclass('") + table +
                         "') IS NOT NULL"),
              "t")
        << table;
  }
  // The status CHECK is there.
  EXPECT_THROW(side.exec("INSERT INTO processing_jobs (job_type, target_id, "
                         "status) VALUES ('t', 'x', 'bogus')"),
               std::runtime_error);
}

TEST(Migrations, EightProcessesAtOnceApplyEachMigrationExactlyOnce) {
  const std::string conninfo = sh_test::conninfo();  // create the db first
  constexpr int kProcs = 8;
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcs; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 0) _exit(101);  // wait for the start signal
      try {
        db::Config c2;
        c2.conninfo = conninfo;
        c2.prepared_statements = sh_test::prepared_statements();
        db::Database database{c2};
        _exit(
            db::migrate(database));  // exit code = migrations this one applied
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        _exit(100);
      }
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // EOF releases every child at once
  int total = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LT(WEXITSTATUS(status), 100) << "a child failed";
    total += WEXITSTATUS(status);
  }
  EXPECT_EQ(total, 16) << "each migration applied exactly once in all";
  sh_test::Side side;
  EXPECT_EQ(side.count("SELECT count(*) FROM soundhash_schema_migrations"), 16);
}

// A database that stopped at version 2 (jobs already in it) gets the work
// queue without losing or stranding a job: pending ones become runnable in
// their old order, running ones get a heartbeat so rescue can judge them.
TEST(Migrations, UpgradeFromVersion2QueuesExistingJobs) {
  sh_test::Side side;
  side.exec(
      "CREATE TABLE soundhash_schema_migrations (version integer PRIMARY KEY, "
      "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
  for (const auto& m : db::migrations()) {
    if (m.version > 2) break;
    side.exec(std::string(m.sql));
    side.exec(
        "INSERT INTO soundhash_schema_migrations (version, name) "
        "VALUES (" +
        std::to_string(m.version) + ", '" + std::string(m.name) + "')");
  }
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id, status, created_at, "
      "started_at) VALUES ('t', 'old', 'pending', now() - interval '2 days', "
      "NULL), ('t', 'new', 'pending', now() - interval '1 day', NULL), "
      "('t', 'busy', 'running', now() - interval '3 days', "
      "now() - interval '3 days')");

  db::Database database{sh_test::config()};
  ASSERT_EQ(db::schema_version(database), 2);
  EXPECT_EQ(db::migrate(database),
            static_cast<int>(db::migrations().size()) - 2);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE run_at = "
                       "created_at"),
            3);
  EXPECT_EQ(side.value("SELECT heartbeat_at = started_at FROM "
                       "processing_jobs WHERE target_id = 'busy'"),
            "t");
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  EXPECT_EQ(jobs.claim_next_job({"t"}, "w")->target_id, "old");
  EXPECT_EQ(jobs.claim_next_job({"t"}, "w")->target_id, "new");
  EXPECT_FALSE(jobs.claim_next_job({"t"}, "w"));
  const auto rescued = jobs.rescue_stale_jobs(std::chrono::hours(1));
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].target_id, "busy");
}
