// Concurrency limits per key against the real server: keys stored by every
// way of creating a job, claims that pass over keys at their limit (one type,
// several, batches, the fused complete-and-claim), bad input, and workers in
// two processes sampled while they drain a type limited per key.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class KeyLimits : public sh_test::QueueTest {
 protected:
  db::NewJob keyed(const std::string& type, const std::string& target,
                   std::optional<std::string> key) {
    auto j = job_of(type, target);
    j.concurrency_key = std::move(key);
    return j;
  }
  // Jobs of `type` in claim order, keys cycling through `keys`.
  void add(const std::string& type, int n,
           const std::vector<std::optional<std::string>>& keys) {
    std::vector<db::NewJob> batch;
    for (int i = 0; i < n; ++i) {
      batch.push_back(keyed(type, type + std::to_string(i),
                            keys[static_cast<std::size_t>(i) % keys.size()]));
    }
    (void)jobs.create_jobs_batch(batch);
  }
  // "key:count" of the running jobs of `type`, by key.
  std::string running_by_key(const std::string& type) {
    return side.value(
        "SELECT coalesce(string_agg(k || ':' || n, ',' ORDER BY k), '') FROM "
        "(SELECT coalesce(concurrency_key, '-') k, count(*) n FROM "
        "processing_jobs WHERE status = 'running' AND job_type = '" +
        type + "' GROUP BY 1) c");
  }
};

TEST_F(KeyLimits, EveryWayOfCreatingStoresTheKey) {
  (void)jobs.create_job(keyed("dl", "a", "ch1"));
  const std::vector<db::NewJob> batch = {keyed("dl", "b", "ch2"),
                                         keyed("dl", "c", std::nullopt)};
  (void)jobs.create_jobs_batch(batch);
  const auto [d, created] =
      jobs.create_job_if_not_exists(keyed("dl", "d", "ch3"));
  ASSERT_TRUE(created);
  EXPECT_EQ(d.concurrency_key, "ch3");
  jobs.upsert_schedule("s", "@every 1m", keyed("dl", "e", "ch4"));
  EXPECT_EQ(jobs.list_schedules()[0].job.concurrency_key, "ch4");
  side.exec(
      "UPDATE job_schedules SET next_run_at = date_trunc('minute', now()) - "
      "interval '1 minute'");
  ASSERT_EQ(jobs.enqueue_due_schedules().size(), 1u);
  EXPECT_EQ(side.value("SELECT string_agg(coalesce(concurrency_key, '-'), ','"
                       " ORDER BY id) FROM processing_jobs"),
            "ch1,ch2,-,ch3,ch4");
  EXPECT_EQ(jobs.get_job(d.id)->concurrency_key, "ch3");
  EXPECT_THROW((void)jobs.create_job(keyed("dl", "x", "")),
               db::InvalidArgument);
  EXPECT_THROW((void)jobs.create_job(keyed("dl", "x", std::string(256, 'k'))),
               db::InvalidArgument);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 5);
}

TEST_F(KeyLimits, SetListClearAndBadInput) {
  add("dl", 1, {"ch1"});
  jobs.set_key_limit("dl", 3);
  jobs.set_key_limit("dl", 2);  // replaces
  jobs.set_key_limit("new", 1, true);
  ASSERT_TRUE(jobs.claim_next_job({"dl"}, "w"));
  auto all = jobs.list_key_limits();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].job_type, "dl");
  EXPECT_EQ(all[0].max_running_per_key, 2);
  EXPECT_EQ(all[0].running, 1);
  EXPECT_EQ(all[0].busiest_key_running, 1);
  EXPECT_EQ(all[1].job_type, "new");
  EXPECT_EQ(all[1].running, 0);
  const auto before = side.value(
      "SELECT string_agg(l::text, ',' ORDER BY job_type) FROM job_key_limits "
      "l");
  EXPECT_THROW(jobs.set_key_limit("dl", 0), db::InvalidArgument);
  EXPECT_THROW(jobs.set_key_limit("", 1), db::InvalidArgument);
  EXPECT_THROW(jobs.set_key_limit("dwnload", 1), db::UnknownJobType);
  EXPECT_EQ(side.value("SELECT string_agg(l::text, ',' ORDER BY job_type) "
                       "FROM job_key_limits l"),
            before);
  EXPECT_THROW(side.exec("UPDATE job_key_limits SET max_running_per_key = 0"),
               std::runtime_error);
  EXPECT_TRUE(jobs.clear_key_limit("new"));
  EXPECT_FALSE(jobs.clear_key_limit("new"));
  EXPECT_EQ(jobs.list_key_limits().size(), 1u);
}

// The front of the queue is one busy key: claims pass over it, not stop.
TEST_F(KeyLimits, ClaimsPassOverAKeyAtItsLimit) {
  add("dl", 6, {"busy"});
  add("dl", 2, {"calm"});
  add("dl", 2, {std::nullopt});
  jobs.set_key_limit("dl", 2);
  ASSERT_EQ(jobs.claim_next_job({"dl"}, "w1")->concurrency_key, "busy");
  ASSERT_EQ(jobs.claim_next_job({"dl"}, "w2")->concurrency_key, "busy");
  const auto third = jobs.claim_next_job({"dl"}, "w3");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->concurrency_key, "calm") << "passed over busy";
  // A batch stays within every key's room; jobs without a key are free.
  const auto batch = jobs.claim_jobs({"dl"}, "w4", 10);
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(running_by_key("dl"), "-:2,busy:2,calm:2");
  EXPECT_FALSE(jobs.claim_next_job({"dl"}, "w5"));
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND locked_by IS NULL"),
            4)
      << "a refused claim changes nothing";
  // Completing one busy job makes room for exactly one more of its key.
  const auto busy_id = side.value(
      "SELECT min(id) FROM processing_jobs WHERE status = 'running' AND "
      "concurrency_key = 'busy'");
  const auto owner = side.value(
      "SELECT locked_by FROM processing_jobs WHERE "
      "id = " +
      busy_id);
  const auto next =
      jobs.complete_job_and_claim_next(std::stoll(busy_id), owner, {"dl"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->concurrency_key, "busy");
  EXPECT_FALSE(jobs.claim_next_job({"dl"}, "w6"));
  EXPECT_TRUE(jobs.clear_key_limit("dl"));
  EXPECT_EQ(jobs.claim_jobs({"dl"}, "w7", 10).size(), 3u) << "no limit";
}

// Claims of one type decide each key under a lock of that key alone: a claim
// of another key never waits for an open claim, one of the same key does and
// then counts it. (Through the server function the claim statements call;
// lock_timeout turns a wait into an error.)
TEST_F(KeyLimits, ClaimsOfDifferentKeysRunSideBySide) {
  add("dl", 4, {"ch1", "ch2"});  // claim order: ch1, ch2, ch1, ch2
  jobs.set_key_limit("dl", 1);
  const std::string claim =
      "UPDATE processing_jobs SET status = 'running', started_at = now(), "
      "locked_by = 'side' WHERE id = ANY ((SELECT "
      "soundhash_lock_keyed_jobs('{dl}', 1))::bigint[]) RETURNING "
      "concurrency_key";
  sh_test::Side a;
  a.exec("BEGIN");
  ASSERT_EQ(a.value(claim), "ch1");  // not committed yet
  sh_test::Side b;
  b.exec("SET lock_timeout = '5s'");
  EXPECT_EQ(b.value(claim), "ch2") << "a claim of ch2 waited for one of ch1";
  // The next runnable job is ch1's second: its claim waits for the open one.
  sh_test::Side c;
  c.exec("SET lock_timeout = '200ms'");
  EXPECT_THROW(c.value(claim), std::runtime_error);
  a.exec("COMMIT");
  // Now it counts ch1's running job, and ch2's: both keys are full.
  EXPECT_EQ(c.value("SELECT cardinality(soundhash_lock_keyed_jobs('{dl}', 1))"),
            "0");
  EXPECT_EQ(running_by_key("dl"), "ch1:1,ch2:1");
}

TEST_F(KeyLimits, SeveralTypesAndTypeLimitsCombine) {
  add("dl", 4, {"a", "b"});
  add("fp", 3, {std::nullopt});
  jobs.set_key_limit("dl", 1);
  const auto got = jobs.claim_jobs({"fp", "dl"}, "w", 10);
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(running_by_key("dl"), "a:1,b:1");
  EXPECT_EQ(running_by_key("fp"), "-:3");
  EXPECT_FALSE(jobs.claim_next_job({"dl", "fp"}, "w"));
  // A job completed by the fused claim of several types frees its key.
  const auto a_id = std::stoll(
      side.value("SELECT id FROM processing_jobs WHERE status = 'running' AND "
                 "concurrency_key = 'a'"));
  const auto next = jobs.complete_job_and_claim_next(a_id, "w", {"dl", "fp"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->concurrency_key, "a");
  // With a type limit too, the tighter one holds.
  add("up", 4, {"x", "y", "z", "w"});
  jobs.set_key_limit("up", 2);
  jobs.set_type_limit("up", 1);
  EXPECT_EQ(jobs.claim_jobs({"up"}, "w", 10).size(), 1u);
  EXPECT_EQ(jobs.claim_jobs({"up", "dl"}, "w", 10).size(), 0u);
}

// 8 worker threads in 2 processes drain 3 keys limited to 2 each beside
// keyless jobs, while this process samples how many of each key run.
TEST_F(KeyLimits, EightWorkersInTwoProcessesNeverExceedTheLimitOfAKey) {
  constexpr int kKeyed = 36, kFree = 12;
  add("dl", kKeyed, {"ch0", "ch1", "ch2"});
  add("dl", kFree, {std::nullopt});
  jobs.set_key_limit("dl", 2);
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
        w.run();
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        _exit(100);
      }
    }
    children.push_back(pid);
  }
  long long max_key = 0, max_free = 0, max_all = 0;
  int samples = 0;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    const auto row = side.value(
        "SELECT coalesce(max(n) FILTER (WHERE k IS NOT NULL), 0) || ' ' || "
        "coalesce(max(n) FILTER (WHERE k IS NULL), 0) || ' ' || "
        "coalesce(sum(n), 0) || ' ' || (SELECT count(*) FROM processing_jobs "
        "WHERE status <> 'completed') FROM (SELECT concurrency_key k, "
        "count(*) n FROM processing_jobs WHERE status = 'running' GROUP BY 1) "
        "c");
    long long key = 0, keyless = 0, all = 0, open = 0;
    std::sscanf(row.c_str(), "%lld %lld %lld %lld", &key, &keyless, &all,
                &open);
    max_key = std::max(max_key, key);
    max_free = std::max(max_free, keyless);
    max_all = std::max(max_all, all);
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
  EXPECT_LE(max_key, 2) << "over " << samples << " samples";
  EXPECT_EQ(max_key, 2) << "the limit, not less, was used";
  EXPECT_GT(max_all, 2) << "other keys ran beside a busy one";
  EXPECT_GT(max_free, 0);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'"),
            kKeyed + kFree)
      << "every job completed";
}

}  // namespace
