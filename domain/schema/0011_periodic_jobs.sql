-- Periodic jobs (JobRepository::upsert_schedule, enqueue_due_schedules; the
-- dialect is in docs/guide/queue.md, "Periodic jobs"). A schedule holds the
-- job each period creates and when the next one is due. The client parses
-- the expression and computes next_run_at; the checks below refuse what no
-- parser of ours would store. enqueue_due_schedules advances next_run_at
-- with a compare-and-set on its old value, so that of many concurrent
-- callers exactly one creates each period's job.

CREATE TABLE job_schedules (
  name             text         PRIMARY KEY
                   CHECK (name <> '' AND length(name) <= 200),
  expression       text         NOT NULL CHECK (
    expression ~ '^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$'
    OR expression ~ '^@every ([0-9]+[smhd])+$'
    OR expression ~ '^[0-9A-Za-z*,/-]+( [0-9A-Za-z*,/-]+){4}$'),
  job_type         varchar(50)  NOT NULL CHECK (job_type <> ''),
  target_id        varchar(255) NOT NULL CHECK (target_id <> ''),
  parameters       text,
  priority         integer      NOT NULL DEFAULT 0,
  max_retries      integer      NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
  delay_ms         bigint       NOT NULL DEFAULT 0 CHECK (delay_ms >= 0),
  next_run_at      timestamptz  NOT NULL,
  last_enqueued_at timestamptz,
  created_at       timestamptz  NOT NULL DEFAULT now(),
  updated_at       timestamptz  NOT NULL DEFAULT now(),
  -- Cron schedules fire on whole minutes.
  CHECK (expression LIKE '@every %'
         OR next_run_at = date_trunc('minute', next_run_at))
);

-- The due schedules, soonest first.
CREATE INDEX job_schedules_due_idx ON job_schedules (next_run_at);
