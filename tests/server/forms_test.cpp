// The three ways to get a repository: scoped, shared session, deprecated
// manual. Each form's commit and rollback.
#include "repo_fixture.hpp"

namespace db = soundhash::db;
using sh_test::RepoTest;

namespace {
struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};
}  // namespace

TEST_F(RepoTest, ScopedRepositoryCommitsAtScopeExit) {
  {
    auto repo = db::video_repository(database);
    repo->create_channel("UC1");
    EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 0);
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);
}

TEST_F(RepoTest, ScopedRepositoryRollsBackOnException) {
  EXPECT_THROW(
      {
        auto repo = db::job_repository(database);
        repo->create_job("t", "x");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 0);
}

TEST_F(RepoTest, SharedSessionIsOneUnit) {
  {
    auto s = database.session();
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    const auto ch = videos.create_channel("UC1");
    videos.create_video("v1", ch.id);
    jobs.create_job("video_process", "v1");
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM videos"), 1);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 1);
  EXPECT_THROW(
      {
        auto s = database.session();
        db::VideoRepository videos{s};
        db::JobRepository jobs{s};
        videos.create_channel("UC2");
        jobs.create_job("channel_ingest", "UC2");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 1);
}

TEST_F(RepoTest, GlobalFormsUseDatabaseGlobal) {
  db::Database::configure_global(sh_test::config());
  {
    auto s = db::get_db_session();
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    videos.create_channel("UC_global");
    jobs.create_job("channel_ingest", "UC_global");
  }
  {
    auto repo = db::job_repository();
    EXPECT_TRUE(repo->job_exists("channel_ingest", "UC_global"));
  }
  EXPECT_EQ(side.count(
                "SELECT count(*) FROM channels WHERE channel_id = 'UC_global'"),
            1);
  EXPECT_EQ(db::Database::global().pool_stats().in_use, 0u);
  // Too late to reconfigure once it exists.
  EXPECT_THROW(db::Database::configure_global(sh_test::config()),
               db::InvalidArgument);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

TEST_F(RepoTest, DeprecatedFormCommitsByHand) {
  {
    auto repo = db::get_video_repository(database);
    repo.create_channel("UC1");
    repo.session().commit();
    repo.session().close();
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);
}

TEST_F(RepoTest, DeprecatedFormRollsBackWhatWasNotCommitted) {
  sh_test::LogCapture log;
  {
    auto repo = db::get_job_repository(database);
    repo.create_job("t", "committed");
    repo.session().commit();
    repo.create_job("t", "forgotten");
  }  // no commit: rolled back, with a warning
  EXPECT_EQ(
      side.value("SELECT string_agg(target_id, ',') FROM processing_jobs"),
      "committed");
  EXPECT_TRUE(log.contains("Session closed with uncommitted work"));
}

TEST_F(RepoTest, DeprecatedFormRollbackByHand) {
  auto repo = db::get_video_repository(database);
  repo.create_channel("UC1");
  repo.session().rollback();
  repo.create_channel("UC2");
  repo.session().commit();
  EXPECT_EQ(side.value("SELECT string_agg(channel_id, ',') FROM channels"),
            "UC2");
}

#pragma GCC diagnostic pop
