-- Scheduled jobs with a timeout (issue 19).
--
-- job_schedules.timeout_ms: the timeout of each job the schedule creates
-- (processing_jobs.timeout_ms, schema 13; NULL: none). Only this library
-- writes job_schedules, and the column has a default, so adding it rewrites
-- nothing (PostgreSQL 11+).

ALTER TABLE job_schedules
  ADD COLUMN timeout_ms bigint
    CONSTRAINT job_schedules_timeout_ms_check
    CHECK (timeout_ms IS NULL OR timeout_ms > 0);
