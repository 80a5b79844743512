#pragma once
// The statements that recognise and inspect a database made by SoundHash's
// Python layer before migrate() adopts it (see adopt.cpp). They read the
// Python tables under the same names this schema uses, so each is also
// valid on the migrated schema, where the statement check prepares it. The
// conversion itself is domain/schema/adopt/*.sql.

#include <string_view>

namespace soundhash::db::detail::sql {

// The relations of the current schema whose names the migrations use or the
// Python layer made, with their columns and types (a relation without
// columns still gives one row). Plus a row for a leftover schema
// soundhash_adopting, which adoption needs free.
inline constexpr std::string_view kSchemaRelations = R"sql(
SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a
    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = current_schema()
   AND c.relname IN ('channels', 'videos', 'audio_fingerprints',
                     'match_results', 'processing_jobs',
                     'soundhash_job_creation_locks',
                     'soundhash_schema_migrations', 'alembic_version')
UNION ALL
SELECT 'schema ' || s.nspname::text, NULL, NULL
  FROM pg_namespace s WHERE s.nspname = 'soundhash_adopting'
 ORDER BY 1, 2
)sql";

// How many rows each Python table holds, and whether this role may set the
// database's default TimeZone (it owns the database, or is a superuser).
inline constexpr std::string_view kAdoptionCounts = R"sql(
SELECT (SELECT count(c.id) FROM channels c),
       (SELECT count(v.id) FROM videos v),
       (SELECT count(f.id) FROM audio_fingerprints f),
       (SELECT count(m.id) FROM match_results m),
       (SELECT count(j.id) FROM processing_jobs j),
       (SELECT pg_has_role(current_user, d.datdba, 'MEMBER')
          FROM pg_database d WHERE d.datname = current_database()),
       current_setting('TimeZone')
)sql";

// Rows the adopted schema's constraints refuse, by problem: how many, and the
// first few ids. Each problem is one constraint the adoption adds (NOT NULL
// without a default the Python model would have written, a CHECK, the
// status list), so the operator can fix the rows and run migrate again.
inline constexpr std::string_view kAdoptionProblems = R"sql(
SELECT p.problem, count(*), (array_agg(p.id ORDER BY p.id))[1:5]::text
  FROM (
    SELECT 'channels: subscriber_count or video_count below 0' AS problem,
           c.id::bigint AS id
      FROM channels c WHERE c.subscriber_count < 0 OR c.video_count < 0
    UNION ALL
    SELECT 'videos: duration, view_count or like_count below 0', v.id
      FROM videos v
     WHERE v.duration < 0 OR v.view_count < 0 OR v.like_count < 0
    UNION ALL
    SELECT 'audio_fingerprints: fingerprint_data is NULL', f.id
      FROM audio_fingerprints f WHERE f.fingerprint_data IS NULL
    UNION ALL
    SELECT 'audio_fingerprints: start_time below 0 or after end_time', f.id
      FROM audio_fingerprints f
     WHERE f.start_time < 0 OR f.end_time < f.start_time
    UNION ALL
    SELECT 'audio_fingerprints: confidence_score outside 0..1, peak_count '
           'below 0, sample_rate or segment_length not above 0', f.id
      FROM audio_fingerprints f
     WHERE f.confidence_score NOT BETWEEN 0 AND 1 OR f.peak_count < 0
        OR f.sample_rate <= 0 OR f.segment_length <= 0
    UNION ALL
    SELECT 'match_results: query_fingerprint_id or matched_fingerprint_id '
           'is NULL', m.id
      FROM match_results m
     WHERE m.query_fingerprint_id IS NULL OR m.matched_fingerprint_id IS NULL
    UNION ALL
    SELECT 'match_results: similarity_score or match_confidence outside 0..1',
           m.id
      FROM match_results m
     WHERE m.similarity_score NOT BETWEEN 0 AND 1
        OR m.match_confidence NOT BETWEEN 0 AND 1
    UNION ALL
    SELECT 'processing_jobs: job_type or target_id is NULL', j.id
      FROM processing_jobs j WHERE j.job_type IS NULL OR j.target_id IS NULL
    UNION ALL
    SELECT 'processing_jobs: unknown status '
           || coalesce(quote_literal(j.status), 'NULL'), j.id
      FROM processing_jobs j
     WHERE j.status IS NULL
        OR j.status NOT IN ('pending', 'running', 'completed', 'failed',
                            'cancelled')
    UNION ALL
    SELECT 'processing_jobs: progress outside 0..1', j.id
      FROM processing_jobs j WHERE j.progress NOT BETWEEN 0 AND 1
    UNION ALL
    SELECT 'processing_jobs: retry_count or max_retries below 0', j.id
      FROM processing_jobs j WHERE j.retry_count < 0 OR j.max_retries < 0
  ) p
 GROUP BY p.problem
 ORDER BY p.problem
)sql";

// Objects outside the Python tables that depend on them (views, foreign keys
// from other tables) or that dropping them would lose (user triggers): the
// adoption replaces the tables, so it refuses rather than drop these.
inline constexpr std::string_view kAdoptionDependents = R"sql(
WITH t AS (
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema()
     AND c.relname IN ('channels', 'videos', 'audio_fingerprints',
                       'match_results', 'processing_jobs'))
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d
 WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM t)
   AND d.deptype = 'n'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE d.classid = 'pg_constraint'::regclass
                      AND k.oid = d.objid AND k.conrelid IN (SELECT oid FROM t))
   AND NOT EXISTS (SELECT 1 FROM pg_attrdef ad
                    WHERE d.classid = 'pg_attrdef'::regclass
                      AND ad.oid = d.objid AND ad.adrelid IN (SELECT oid FROM t))
UNION
SELECT pg_describe_object('pg_trigger'::regclass, g.oid, 0)
  FROM pg_trigger g WHERE g.tgrelid IN (SELECT oid FROM t) AND NOT g.tgisinternal
 ORDER BY 1
)sql";

// Active jobs (pending or running) that share a (job_type, target_id): the
// Python layer's check-then-insert could create them. Newest id first.
inline constexpr std::string_view kDuplicateActiveJobs = R"sql(
SELECT j.job_type, j.target_id, array_agg(j.id ORDER BY j.id DESC)::text
  FROM processing_jobs j
 WHERE j.status IN ('pending', 'running')
 GROUP BY j.job_type, j.target_id
HAVING count(*) > 1
 ORDER BY j.job_type, j.target_id
)sql";

// --resolve-duplicates=keep-newest: every active duplicate but the newest
// (highest id) is cancelled, kept as a row that says which job it gave way
// to. Runs on the Python table, whose timestamps are naive UTC.
inline constexpr std::string_view kCancelOlderDuplicateJobs = R"sql(
UPDATE processing_jobs j
   SET status = 'cancelled', completed_at = now() AT TIME ZONE 'UTC',
       error_message = 'cancelled when adopted by soundhash-db: a duplicate '
                       'of active job ' || d.newest
  FROM (SELECT a.id, max(a.id) OVER (PARTITION BY a.job_type, a.target_id)
                       AS newest
          FROM processing_jobs a
         WHERE a.status IN ('pending', 'running')) d
 WHERE j.id = d.id AND d.id <> d.newest
)sql";

}  // namespace soundhash::db::detail::sql
