#pragma once
// Shared set-up for the benchmarks: the server (SOUNDHASH_BENCH_DATABASE_URL,
// set by bench/run), the schema and the seed data every peer reads.

#include <libpq-fe.h>

#include <string>

#include "soundhash/db.hpp"

namespace bench {

inline constexpr int kVideos = 10000;
inline constexpr int kExistingJobs = 1000;

/// conninfo of the benchmark database.
const std::string& conninfo();
/// The library's Database on it (pool of 8), migrated and seeded once.
soundhash::db::Database& database();
/// YouTube id of seeded video i (0 <= i < kVideos).
std::string video_id(int i);
/// Target id of pre-created pending job i (0 <= i < kExistingJobs).
std::string existing_target(int i);
/// Row id of the seeded channel's first video (for fingerprints).
std::int64_t first_video_row();

/// A raw libpq connection for the hand-written peers; throws on failure.
PGconn* connect_raw();
/// PQexec that throws unless the status is `expect`.
void exec_raw(PGconn* c, const char* sql,
              ExecStatusType expect = PGRES_COMMAND_OK);

/// The SELECT every read peer runs (same columns as the library's).
inline constexpr const char* kGetVideoSql =
    "SELECT id, video_id, channel_id, title, description, duration, "
    "view_count, like_count, upload_date, url, thumbnail_url, processed, "
    "processing_started, processing_completed, processing_error, created_at, "
    "updated_at FROM videos WHERE video_id = $1";

}  // namespace bench
