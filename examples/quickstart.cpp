// Quickstart: the three ways to get a unit of work, and an idempotent job.
// Reads DATABASE_URL (libpq's PG* defaults when unset).
#include <cstdio>
#include <soundhash/db.hpp>

namespace db = soundhash::db;

int main() try {
  db::migrate(db::Database::global());  // bundled schema; safe to call always

  // 1. A scoped repository: commits when the block ends.
  std::int64_t channel_id = 0;
  {
    auto repo = db::video_repository();
    auto channel = repo->get_channel_by_id("UC_quickstart");
    channel_id = channel
                     ? channel->id
                     : repo->create_channel("UC_quickstart", "Quickstart").id;
  }

  // 2. A shared session: two repositories, one unit, one COMMIT.
  {
    auto s = db::get_db_session();
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    if (!videos.get_video_by_id("vid_quickstart")) {
      videos.create_video("vid_quickstart", channel_id, "Quickstart video");
    }
    // 3. Idempotent, race-free job creation.
    auto [job, created] = jobs.create_job_if_not_exists(
        "video_process", "vid_quickstart", R"({"priority": 1})");
    std::printf("job %lld for vid_quickstart: %s\n",
                static_cast<long long>(job.id),
                created ? "created" : "already there");
  }

  // A unit retried as a whole on deadlocks and lost connections.
  const auto counts = db::Database::global().transact([](db::Session& s) {
    return db::JobRepository{s}.count_jobs_by_status();
  });
  for (const auto& [status, n] : counts) {
    std::printf("%s: %lld\n", status.c_str(), static_cast<long long>(n));
  }
  return 0;
} catch (const db::Error& e) {
  std::fprintf(stderr, "database error: %s\n", e.what());
  return 1;
}
