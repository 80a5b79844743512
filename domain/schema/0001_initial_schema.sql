-- SoundHash's tables: channels, their videos, the videos' audio
-- fingerprints, matches between fingerprints, and processing jobs.

CREATE TABLE channels (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel_id       varchar(64)  NOT NULL UNIQUE,
  channel_name     varchar(255),
  description      text,
  subscriber_count bigint CHECK (subscriber_count >= 0),
  video_count      bigint CHECK (video_count >= 0),
  is_active        boolean      NOT NULL DEFAULT true,
  created_at       timestamptz  NOT NULL DEFAULT now(),
  updated_at       timestamptz  NOT NULL DEFAULT now(),
  last_processed   timestamptz
);

CREATE TABLE videos (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  video_id             varchar(64)  NOT NULL UNIQUE,
  channel_id           bigint       NOT NULL REFERENCES channels (id),
  title                varchar(500),
  description          text,
  duration             double precision CHECK (duration >= 0),
  view_count           bigint CHECK (view_count >= 0),
  like_count           bigint CHECK (like_count >= 0),
  upload_date          timestamptz,
  url                  varchar(500),
  thumbnail_url        varchar(500),
  processed            boolean      NOT NULL DEFAULT false,
  processing_started   timestamptz,
  processing_completed timestamptz,
  processing_error     text,
  created_at           timestamptz  NOT NULL DEFAULT now(),
  updated_at           timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX videos_channel_idx ON videos (channel_id);
CREATE INDEX videos_unprocessed_idx ON videos (created_at, id) WHERE NOT processed;

CREATE TABLE audio_fingerprints (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  video_id         bigint       NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  start_time       double precision NOT NULL CHECK (start_time >= 0),
  end_time         double precision NOT NULL,
  fingerprint_hash varchar(64)  NOT NULL,
  fingerprint_data bytea        NOT NULL,
  confidence_score double precision CHECK (confidence_score BETWEEN 0 AND 1),
  peak_count       integer CHECK (peak_count >= 0),
  sample_rate      integer CHECK (sample_rate > 0),
  segment_length   double precision CHECK (segment_length > 0),
  created_at       timestamptz  NOT NULL DEFAULT now(),
  CHECK (end_time >= start_time)
);
CREATE INDEX audio_fingerprints_hash_idx ON audio_fingerprints (fingerprint_hash);
CREATE INDEX audio_fingerprints_video_idx ON audio_fingerprints (video_id, start_time);

CREATE TABLE match_results (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  query_fingerprint_id   bigint NOT NULL REFERENCES audio_fingerprints (id) ON DELETE CASCADE,
  matched_fingerprint_id bigint NOT NULL REFERENCES audio_fingerprints (id) ON DELETE CASCADE,
  similarity_score       double precision NOT NULL CHECK (similarity_score BETWEEN 0 AND 1),
  match_confidence       double precision CHECK (match_confidence BETWEEN 0 AND 1),
  query_source           varchar(50),
  query_url              varchar(500),
  query_user             varchar(100),
  created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX match_results_query_idx ON match_results (query_fingerprint_id, similarity_score DESC);

CREATE TABLE processing_jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_type      varchar(50)  NOT NULL,
  status        varchar(20)  NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  target_id     varchar(255) NOT NULL,
  parameters    text,
  progress      double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  current_step  varchar(255),
  created_at    timestamptz  NOT NULL DEFAULT now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  error_message text,
  retry_count   integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  max_retries   integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0)
);
CREATE INDEX processing_jobs_target_idx ON processing_jobs (job_type, target_id, status);
CREATE INDEX processing_jobs_queue_idx ON processing_jobs (status, job_type, created_at, id);
