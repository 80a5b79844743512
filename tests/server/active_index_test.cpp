// The optional unique index over active jobs (guide: migration.md, "Racing
// creators"): with it, no client can make a second pending or running job
// for one (type, target), and create_job_if_not_exists yields to a creator
// that does not take our lock row (SoundHash's Python layer) instead of
// failing with a unique violation.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// The statement of the guide's migration page, without CONCURRENTLY (which
// cannot run inside the test's transaction-free Side either way; the index
// is the same).
constexpr const char* kActiveIndex =
    "CREATE UNIQUE INDEX processing_jobs_one_active_idx"
    "  ON processing_jobs (job_type, target_id)"
    "  WHERE status IN ('pending', 'running')";

class ActiveIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = sh_test::config(true);
    c.pool_size = 6;
    database_ = std::make_unique<db::Database>(c);
    db::migrate(*database_);
    side_.exec(kActiveIndex);
  }

  // Waits until a backend other than the Side's waits on a lock while
  // running `fragment`.
  void wait_for_lock_wait(const std::string& fragment) {
    sh_test::Side look;
    for (int i = 0; i < 2000; ++i) {
      if (look.count("SELECT count(*) FROM pg_stat_activity"
                     " WHERE wait_event_type = 'Lock' AND query LIKE '%" +
                     fragment + "%'") > 0) {
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
    FAIL() << "no backend waited on a lock running " << fragment;
  }

  long long active(const std::string& target) {
    return side_.count(
        "SELECT count(*) FROM processing_jobs WHERE job_type = 'video_process'"
        " AND target_id = '" +
        target + "' AND status IN ('pending', 'running')");
  }

  std::unique_ptr<db::Database> database_;
  sh_test::Side side_;
};

// Regression: migration 3's function inserted plainly, so a creator that
// committed between its check and its insert made it fail with SQLSTATE
// 23505 once the index existed.
TEST_F(ActiveIndex, CreationYieldsToARacerThatCommitsFirst) {
  sh_test::Side racer;
  racer.exec(
      "BEGIN; INSERT INTO processing_jobs (job_type, target_id)"
      " VALUES ('video_process', 'v1')");
  const auto racer_id = std::stoll(
      racer.value("SELECT id FROM processing_jobs WHERE target_id = 'v1'"));

  std::pair<db::ProcessingJob, bool> got;
  std::exception_ptr error;
  std::thread ours([&] {
    try {
      auto repo = db::job_repository(*database_);
      got = repo->create_job_if_not_exists("video_process", "v1");
    } catch (...) {
      error = std::current_exception();
    }
  });
  wait_for_lock_wait("soundhash_create_job_if_not_exists");
  racer.exec("COMMIT");
  ours.join();

  ASSERT_FALSE(error) << "the creator failed instead of yielding";
  EXPECT_FALSE(got.second);
  EXPECT_EQ(got.first.id, racer_id);
  EXPECT_EQ(active("v1"), 1);
}

// At REPEATABLE READ the yielding insert cannot see the racer's job in its
// snapshot: SQLSTATE 40001, and transact's second attempt returns the job.
TEST_F(ActiveIndex, RepeatableReadCreatorIsRetriedByTransact) {
  sh_test::Side racer;
  racer.exec(
      "BEGIN; INSERT INTO processing_jobs (job_type, target_id)"
      " VALUES ('video_process', 'v2')");

  std::atomic<int> attempts{0};
  std::pair<db::ProcessingJob, bool> got;
  std::exception_ptr error;
  std::thread ours([&] {
    try {
      got = database_->transact(
          [&](db::Session& s) {
            ++attempts;
            return db::JobRepository{s}.create_job_if_not_exists(
                "video_process", "v2");
          },
          {.isolation = db::Isolation::repeatable_read});
    } catch (...) {
      error = std::current_exception();
    }
  });
  wait_for_lock_wait("soundhash_create_job_if_not_exists");
  racer.exec("COMMIT");
  ours.join();

  ASSERT_FALSE(error);
  EXPECT_FALSE(got.second);
  EXPECT_EQ(attempts.load(), 2);
  EXPECT_EQ(active("v2"), 1);
}

// Our creators beside Python-style ones (check, then a plain INSERT, with no
// lock row), all on the same keys at once: one active job per key, and
// every key's job was created by exactly one of them.
TEST_F(ActiveIndex, OursAndCheckThenInsertCreatorsMakeOneActiveJobPerKey) {
  constexpr int kKeys = 150;
  constexpr int kOurs = 3;
  constexpr int kTheirs = 2;
  std::vector<std::atomic<int>> made(kKeys);
  std::atomic<int> refused_theirs{0};
  std::vector<std::string> errors(kOurs + kTheirs);
  auto order = [](int seed) {
    std::vector<int> keys(kKeys);
    for (int i = 0; i < kKeys; ++i) keys[i] = i;
    std::shuffle(keys.begin(), keys.end(), std::mt19937(seed));
    return keys;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kOurs; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int k : order(t)) {
          auto repo = db::job_repository(*database_);
          if (repo->create_job_if_not_exists("video_process",
                                             "k" + std::to_string(k))
                  .second) {
            ++made[k];
          }
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (int t = 0; t < kTheirs; ++t) {
    threads.emplace_back([&, t] {
      try {
        sh_test::Side theirs;
        for (int k : order(100 + t)) {
          const std::string key = "'k" + std::to_string(k) + "'";
          if (theirs.count("SELECT count(*) FROM processing_jobs WHERE"
                           " job_type = 'video_process' AND target_id = " +
                           key + " AND status IN ('pending', 'running')") > 0) {
            continue;
          }
          try {
            theirs.exec(
                "INSERT INTO processing_jobs (job_type, target_id)"
                " VALUES ('video_process', " +
                key + ")");
            ++made[k];
          } catch (const std::runtime_error&) {
            ++refused_theirs;  // what SQLAlchemy raises as IntegrityError
          }
        }
      } catch (const std::exception& e) {
        errors[kOurs + t] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();

  for (const auto& e : errors) EXPECT_EQ(e, "");
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(made[k].load(), 1) << "key k" << k;
  }
  EXPECT_EQ(side_.count("SELECT count(*) FROM processing_jobs"), kKeys);
  EXPECT_EQ(side_.count("SELECT count(*) FROM (SELECT 1 FROM processing_jobs"
                        " GROUP BY job_type, target_id HAVING count(*) > 1) d"),
            0);
  RecordProperty("check_then_insert_refused", refused_theirs.load());
}

// Custom statuses that leave out an active job would create a second one:
// with the index, the call returns the active job instead.
TEST_F(ActiveIndex, CustomStatusesGetTheActiveJobInsteadOfASecond) {
  auto repo = db::job_repository(*database_);
  const auto pending = repo->create_job("video_process", "v3");
  const auto [job, created] = repo->create_job_if_not_exists(
      "video_process", "v3", std::nullopt, {"completed"});
  EXPECT_FALSE(created);
  EXPECT_EQ(job.id, pending.id);
  EXPECT_EQ(job.status, "pending");
}

// What would make a second active job (an unconditional create, a batch, a
// finished job set pending again) is refused with the typed error, and what
// was committed is kept.
TEST_F(ActiveIndex, SecondActiveJobFromOtherCallsIsAnIntegrityError) {
  const auto first = database_->transact([](db::Session& s) {
    return db::JobRepository{s}.create_job("video_process", "v4");
  });
  EXPECT_THROW(database_->transact([](db::Session& s) {
    return db::JobRepository{s}.create_job("video_process", "v4");
  }),
               db::IntegrityError);
  EXPECT_THROW(database_->transact([](db::Session& s) {
    const db::NewJob jobs[] = {
        {.job_type = "video_process", .target_id = "v5"},
        {.job_type = "video_process", .target_id = "v4"}};
    return db::JobRepository{s}.create_jobs_batch(jobs);
  }),
               db::IntegrityError);
  EXPECT_EQ(active("v4"), 1);
  EXPECT_EQ(active("v5"), 0) << "the batch is all or nothing";
  EXPECT_EQ(
      side_.value("SELECT id FROM processing_jobs WHERE target_id = 'v4'"),
      std::to_string(first.id));

  database_->transact([&](db::Session& s) {
    db::JobRepository jobs{s};
    jobs.update_job_status(first.id, "completed");
    jobs.create_job("video_process", "v4");
  });
  EXPECT_THROW(database_->transact([&](db::Session& s) {
    return db::JobRepository{s}.update_job_status(first.id, "pending");
  }),
               db::IntegrityError);
  EXPECT_EQ(side_.value("SELECT status FROM processing_jobs WHERE id = " +
                        std::to_string(first.id)),
            "completed");
  EXPECT_EQ(active("v4"), 1);
}

}  // namespace
