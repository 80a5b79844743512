#pragma once
// soundhash-db: the database layer of SoundHash over libpq.
//
//   #include <soundhash/db.hpp>
//   namespace db = soundhash::db;
//
//   {
//     auto repo = db::job_repository();
//     auto [job, created] = repo->create_job_if_not_exists("video_process",
//                                                           "vid123");
//   }  // commits here; rolls back if an exception leaves the block

#include "soundhash/db/config.hpp"
#include "soundhash/db/copy_writer.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/job_errors.hpp"
#include "soundhash/db/job_listener.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/listener.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/migrations.hpp"
#include "soundhash/db/models.hpp"
#include "soundhash/db/observer.hpp"
#include "soundhash/db/pipeline.hpp"
#include "soundhash/db/pool_stats.hpp"
#include "soundhash/db/queue_observer.hpp"
#include "soundhash/db/read_options.hpp"
#include "soundhash/db/repositories.hpp"
#include "soundhash/db/result.hpp"
#include "soundhash/db/retry.hpp"
#include "soundhash/db/schedule.hpp"
#include "soundhash/db/session.hpp"
#include "soundhash/db/type_limits.hpp"
#include "soundhash/db/types.hpp"
#include "soundhash/db/version.hpp"
#include "soundhash/db/video_repository.hpp"
#include "soundhash/db/worker.hpp"
