// Concurrency limits per job type against the real server: stored limits,
// claims that stay within them (one type, several, batches, the fused
// complete-and-claim), bad input, and workers in several processes sampled
// while they drain a limited type.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class TypeLimits : public sh_test::QueueTest {
 protected:
  void add(const std::string& type, int n) {
    for (int i = 0; i < n; ++i) {
      jobs.create_job(job_of(type, type + std::to_string(i)));
    }
  }
  long long running(const std::string& type) {
    return side.count(
        "SELECT count(*) FROM processing_jobs WHERE status = 'running' AND "
        "job_type = '" +
        type + "'");
  }
};

TEST_F(TypeLimits, SetListClear) {
  add("dl", 1);
  jobs.set_type_limit("dl", 2);
  jobs.set_type_limit("fp", 0, true);
  jobs.set_type_limit("dl", 3);  // replaces
  ASSERT_TRUE(jobs.claim_next_job({"dl"}, "w"));
  const auto all = jobs.list_type_limits();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].job_type, "dl");
  EXPECT_EQ(all[0].max_running, 3);
  EXPECT_EQ(all[0].running, 1);
  EXPECT_EQ(all[1].job_type, "fp");
  EXPECT_EQ(all[1].max_running, 0);
  EXPECT_TRUE(jobs.clear_type_limit("fp"));
  EXPECT_FALSE(jobs.clear_type_limit("fp"));
  EXPECT_EQ(jobs.list_type_limits().size(), 1u);
}

TEST_F(TypeLimits, BadInputIsRefusedAndChangesNothing) {
  add("dl", 1);
  jobs.set_type_limit("dl", 2);
  const auto before = side.value("SELECT l::text FROM job_type_limits l");
  EXPECT_THROW(jobs.set_type_limit("dl", -1), db::InvalidArgument);
  EXPECT_THROW(jobs.set_type_limit("", 1), db::InvalidArgument);
  EXPECT_THROW(jobs.set_type_limit(std::string(51, 't'), 1),
               db::InvalidArgument);
  try {
    jobs.set_type_limit("dwnload", 1);
    ADD_FAILURE() << "an unknown type was limited";
  } catch (const db::UnknownJobType& e) {
    EXPECT_EQ(e.job_type(), "dwnload");
    EXPECT_NE(std::string(e.what()).find("unknown job type"),
              std::string::npos);
  }
  EXPECT_THROW(jobs.clear_type_limit(""), db::InvalidArgument);
  EXPECT_EQ(side.value("SELECT l::text FROM job_type_limits l"), before);
  // Known by a schedule, or by its limit: no error.
  jobs.upsert_schedule("s", "@daily", job_of("crawl", "all"));
  jobs.set_type_limit("crawl", 1);
  jobs.set_type_limit("crawl", 2);
  // The server refuses a negative limit too.
  EXPECT_THROW(side.exec("UPDATE job_type_limits SET max_running = -1"),
               std::runtime_error);
}

TEST_F(TypeLimits, OneTypeClaimsStopAtTheLimit) {
  add("dl", 5);
  add("fp", 5);
  jobs.set_type_limit("dl", 2);
  ASSERT_TRUE(jobs.claim_next_job({"dl"}, "w1"));
  const auto second = jobs.claim_next_job({"dl"}, "w2");
  ASSERT_TRUE(second);
  EXPECT_FALSE(jobs.claim_next_job({"dl"}, "w3")) << "2 running already";
  EXPECT_EQ(jobs.claim_jobs({"dl"}, "w3", 5).size(), 0u);
  EXPECT_EQ(jobs.claim_jobs({"fp"}, "w3", 5).size(), 5u) << "fp is unlimited";
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND job_type = 'dl' AND locked_by IS NULL"),
            3)
      << "a refused claim changes nothing";
  jobs.complete_job(second->id, "w2");
  EXPECT_EQ(jobs.claim_jobs({"dl"}, "w3", 5).size(), 1u) << "room for one";
  EXPECT_EQ(running("dl"), 2);
  // A raised limit lets more run; 0 pauses the type.
  jobs.set_type_limit("dl", 3);
  EXPECT_TRUE(jobs.claim_next_job({"dl"}, "w4"));
  jobs.set_type_limit("dl", 0);
  jobs.update_job_status(second->id, "pending");
  EXPECT_FALSE(jobs.claim_next_job({"dl"}, "w5"));
  EXPECT_TRUE(jobs.clear_type_limit("dl"));
  EXPECT_TRUE(jobs.claim_next_job({"dl"}, "w5")) << "no limit, no stop";
}

TEST_F(TypeLimits, CompleteAndClaimCountsTheJobItCompletes) {
  add("dl", 3);
  jobs.set_type_limit("dl", 1);
  auto job = jobs.claim_next_job({"dl"}, "w");
  ASSERT_TRUE(job);
  EXPECT_FALSE(jobs.claim_next_job({"dl"}, "x"));
  // Its own job ends in the same statement: room for the next.
  job = jobs.complete_job_and_claim_next(job->id, "w", {"dl"});
  ASSERT_TRUE(job);
  job = jobs.complete_job_and_claim_next(job->id, "w", {"dl", "fp"});
  ASSERT_TRUE(job) << "several types";
  EXPECT_EQ(running("dl"), 1);
  // Another worker's running job leaves no room.
  add("dl", 1);
  add("fp", 1);
  const auto other = jobs.claim_next_job({"fp"}, "y");
  ASSERT_TRUE(other);
  EXPECT_FALSE(jobs.complete_job_and_claim_next(other->id, "y", {"dl"}));
}

TEST_F(TypeLimits, SeveralTypesStayWithinEachRoom) {
  add("dl", 5);
  add("fp", 5);
  add("ex", 5);
  jobs.set_type_limit("dl", 2);
  jobs.set_type_limit("ex", 0);
  const auto got = jobs.claim_jobs({"ex", "dl", "fp"}, "w", 10);
  EXPECT_EQ(running("dl"), 2);
  EXPECT_EQ(running("ex"), 0);
  EXPECT_EQ(running("fp"), 5);
  EXPECT_EQ(got.size(), 7u);
  EXPECT_FALSE(jobs.claim_next_job({"dl", "ex"}, "w"));
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending'"),
            8);
}

// 8 worker threads in 2 processes drain a type limited to 2 beside an
// unlimited one, while this process samples how many of each run.
TEST_F(TypeLimits, EightWorkersInTwoProcessesNeverExceedTheLimit) {
  constexpr int kLimited = 24, kFree = 24;
  add("dl", kLimited);
  add("fp", kFree);
  jobs.set_type_limit("dl", 2);
  const std::string conninfo = sh_test::conninfo();
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      try {
        auto cfg = sh_test::config(true);
        cfg.conninfo = conninfo;
        db::Database d{cfg};
        db::WorkerOptions o;
        o.threads = 4;
        o.name = "p" + std::to_string(p);
        o.poll = 20ms;
        o.until_idle = true;
        db::Worker w{d, o};
        w.on("dl", [](db::JobContext&) { std::this_thread::sleep_for(30ms); });
        w.on("fp", [](db::JobContext&) { std::this_thread::sleep_for(30ms); });
        w.run();
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        _exit(100);
      }
    }
    children.push_back(pid);
  }
  long long max_dl = 0, max_fp = 0;
  int samples = 0;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    const auto row = side.value(
        "SELECT count(*) FILTER (WHERE job_type = 'dl') || ' ' || count(*) "
        "FILTER (WHERE job_type = 'fp') || ' ' || (SELECT count(*) FROM "
        "processing_jobs WHERE status <> 'completed') FROM processing_jobs "
        "WHERE status = 'running'");
    long long dl = 0, fp = 0, open = 0;
    std::sscanf(row.c_str(), "%lld %lld %lld", &dl, &fp, &open);
    max_dl = std::max(max_dl, dl);
    max_fp = std::max(max_fp, fp);
    ++samples;
    if (open == 0) break;
    std::this_thread::sleep_for(2ms);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child exit status " << status;
  }
  EXPECT_LE(max_dl, 2) << "over " << samples << " samples";
  EXPECT_EQ(max_dl, 2) << "the limit, not less, was used";
  EXPECT_GT(max_fp, 2) << "the unlimited type ran wider";
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'"),
            kLimited + kFree)
      << "every job completed";
}

}  // namespace
