#pragma once
// Every SQL statement of the domain, by name. The statement check
// (tests/server/statements_test.cpp) prepares each against the migrated
// schema, and fails if a statement literal under domain/src is missing here.

#include <string_view>

#include "sql/adopt.hpp"
#include "sql/claims.hpp"
#include "sql/control.hpp"
#include "sql/jobs.hpp"
#include "sql/limits.hpp"
#include "sql/matches.hpp"
#include "sql/migration_table.hpp"
#include "sql/queue.hpp"
#include "sql/schedules.hpp"
#include "sql/videos.hpp"

namespace soundhash::db::detail::sql {

struct NamedStatement {
  std::string_view name;
  std::string_view text;
};

inline constexpr NamedStatement kCatalog[] = {
    // videos.hpp
    {"create_channel", kCreateChannel},
    {"get_channel_by_id", kGetChannelById},
    {"create_video", kCreateVideo},
    {"get_video_by_id", kGetVideoById},
    {"get_unprocessed_videos", kGetUnprocessedVideos},
    {"mark_video_processed", kMarkVideoProcessed},
    {"create_fingerprint", kCreateFingerprint},
    {"copy_fingerprints", kCopyFingerprints},
    {"fingerprints_exist", kFingerprintsExist},
    {"find_matching_fingerprints", kFindMatchingFingerprints},
    {"create_match_result", kCreateMatchResult},
    {"copy_match_results", kCopyMatchResults},
    {"get_top_matches", kGetTopMatches},
    // matches.hpp
    {"find_matching_fingerprints_batch", kFindMatchingFingerprintsBatch},
    {"find_matches", kFindMatches},
    // jobs.hpp
    {"job_exists", kJobExists},
    {"create_job_if_not_exists", kCreateJobIfNotExists},
    {"get_pending_jobs_of_type", kGetPendingJobsOfType},
    {"get_pending_jobs", kGetPendingJobs},
    {"get_jobs_by_target", kGetJobsByTarget},
    {"update_job_status", kUpdateJobStatus},
    {"count_jobs_by_status", kCountJobsByStatus},
    {"jobs_exist_batch", kJobsExistBatch},
    // queue.hpp
    {"create_job", kCreateJob},
    {"create_jobs_batch", kCreateJobsBatch},
    {"heartbeat", kHeartbeat},
    {"complete_jobs", kCompleteJobs},
    {"complete_job", kCompleteJob},
    {"fail_job", kFailJob},
    {"rescue_stale_jobs", kRescueStaleJobs},
    {"try_rescue_lock", kTryRescueLock},
    {"release_jobs", kReleaseJobs},
    {"purge_finished_jobs", kPurgeFinishedJobs},
    {"oldest_runnable_wait", kOldestRunnableWait},
    // schedules.hpp
    {"before_upsert_schedule", kBeforeUpsertSchedule},
    {"upsert_schedule", kUpsertSchedule},
    {"delete_schedule", kDeleteSchedule},
    {"list_schedules", kListSchedules},
    {"due_schedules", kDueSchedules},
    {"enqueue_due_schedules", kEnqueueDueSchedules},
    // limits.hpp
    {"set_type_limit", kSetTypeLimit},
    {"clear_type_limit", kClearTypeLimit},
    {"list_type_limits", kListTypeLimits},
    {"set_key_limit", kSetKeyLimit},
    {"clear_key_limit", kClearKeyLimit},
    {"list_key_limits", kListKeyLimits},
    // claims.hpp
    {"claim_next_job_of_type", kClaimNextJobOfType},
    {"claim_next_job_of_types", kClaimNextJobOfTypes},
    {"claim_jobs_of_type", kClaimJobsOfType},
    {"claim_jobs_of_types", kClaimJobsOfTypes},
    {"complete_and_claim_next_of_type", kCompleteAndClaimNextOfType},
    {"complete_and_claim_next_of_types", kCompleteAndClaimNextOfTypes},
    // migration_table.hpp
    {"lock_migrations", kLockMigrations},
    {"create_migration_table", kCreateMigrationTable},
    {"applied_versions", kAppliedVersions},
    {"record_migration", kRecordMigration},
    {"migration_table_exists", kMigrationTableExists},
    {"schema_version", kSchemaVersion},
    // adopt.hpp
    {"schema_relations", kSchemaRelations},
    {"adoption_counts", kAdoptionCounts},
    {"adoption_problems", kAdoptionProblems},
    {"adoption_dependents", kAdoptionDependents},
    {"duplicate_active_jobs", kDuplicateActiveJobs},
    {"cancel_older_duplicate_jobs", kCancelOlderDuplicateJobs},
    // control.hpp
    {"cancel_job", kCancelJob},
    {"get_job", kGetJob},
    {"get_job_errors", kGetJobErrors},
};

}  // namespace soundhash::db::detail::sql
