-- Adopting a database made by SoundHash's Python layer, step 2 of 2: every
-- row of the tables set aside by set_aside.sql is copied into the tables of
-- schema version 8 (the migrations up to it have just run), then the old
-- tables go. Conversions:
--  - ids keep their values (integer to bigint); each identity continues
--    after the larger of the highest id and the old sequence's last value;
--  - naive timestamps were written by datetime.utcnow(): read as UTC;
--  - progress ran 0.0-1.0 and is now a percentage (0-100);
--  - NULL in a column that is now NOT NULL takes the value the Python model
--    would have written (is_active true, processed and responded false,
--    progress 0, retry_count 0, max_retries 3, created_at the time of
--    adoption, updated_at created_at);
--  - jobs become queue entries: run_at is created_at, running jobs heartbeat
--    at their start (as migration 3 did for existing jobs);
--  - the tables' owner and grants carry over.
-- Rows the new constraints refuse were found and reported before this ran.

INSERT INTO channels (id, channel_id, channel_name, description,
                      subscriber_count, video_count, is_active, created_at,
                      updated_at, last_processed)
OVERRIDING SYSTEM VALUE
SELECT c.id, c.channel_id, c.channel_name, c.description, c.subscriber_count,
       c.video_count, coalesce(c.is_active, true),
       coalesce(c.created_at AT TIME ZONE 'UTC', now()),
       coalesce(coalesce(c.updated_at, c.created_at) AT TIME ZONE 'UTC', now()),
       c.last_processed AT TIME ZONE 'UTC'
  FROM soundhash_adopting.channels c;

INSERT INTO videos (id, video_id, channel_id, title, description, duration,
                    view_count, like_count, upload_date, url, thumbnail_url,
                    processed, processing_started, processing_completed,
                    processing_error, created_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT v.id, v.video_id, v.channel_id, v.title, v.description, v.duration,
       v.view_count, v.like_count, v.upload_date AT TIME ZONE 'UTC', v.url,
       v.thumbnail_url, coalesce(v.processed, false),
       v.processing_started AT TIME ZONE 'UTC',
       v.processing_completed AT TIME ZONE 'UTC', v.processing_error,
       coalesce(v.created_at AT TIME ZONE 'UTC', now()),
       coalesce(coalesce(v.updated_at, v.created_at) AT TIME ZONE 'UTC', now())
  FROM soundhash_adopting.videos v;

INSERT INTO audio_fingerprints (id, video_id, start_time, end_time,
                                fingerprint_hash, fingerprint_data,
                                confidence_score, peak_count, sample_rate,
                                segment_length, created_at)
OVERRIDING SYSTEM VALUE
SELECT f.id, f.video_id, f.start_time, f.end_time, f.fingerprint_hash,
       f.fingerprint_data, f.confidence_score, f.peak_count, f.sample_rate,
       f.segment_length, coalesce(f.created_at AT TIME ZONE 'UTC', now())
  FROM soundhash_adopting.audio_fingerprints f;

INSERT INTO match_results (id, query_fingerprint_id, matched_fingerprint_id,
                           similarity_score, match_confidence, query_source,
                           query_url, query_user, responded, response_sent_at,
                           created_at)
OVERRIDING SYSTEM VALUE
SELECT m.id, m.query_fingerprint_id, m.matched_fingerprint_id,
       m.similarity_score, m.match_confidence, m.query_source, m.query_url,
       m.query_user, coalesce(m.responded, false),
       m.response_sent_at AT TIME ZONE 'UTC',
       coalesce(m.created_at AT TIME ZONE 'UTC', now())
  FROM soundhash_adopting.match_results m;

INSERT INTO processing_jobs (id, job_type, status, target_id, parameters,
                             progress, current_step, created_at, started_at,
                             completed_at, error_message, retry_count,
                             max_retries, run_at, heartbeat_at)
OVERRIDING SYSTEM VALUE
SELECT j.id, j.job_type, j.status, j.target_id, j.parameters,
       coalesce(j.progress, 0) * 100, j.current_step,
       coalesce(j.created_at AT TIME ZONE 'UTC', now()),
       j.started_at AT TIME ZONE 'UTC', j.completed_at AT TIME ZONE 'UTC',
       j.error_message, coalesce(j.retry_count, 0), coalesce(j.max_retries, 3),
       coalesce(j.created_at AT TIME ZONE 'UTC', now()),
       CASE WHEN j.status = 'running'
            THEN coalesce(j.started_at, j.created_at) AT TIME ZONE 'UTC' END
  FROM soundhash_adopting.processing_jobs j;

DO $adopt$
DECLARE
  t        text;
  old_rel  regclass;
  last_id  bigint;
  owner_id oid;
  acl      aclitem[];
  g        record;
BEGIN
  FOREACH t IN ARRAY ARRAY['channels', 'videos', 'audio_fingerprints',
                           'match_results', 'processing_jobs'] LOOP
    old_rel := format('soundhash_adopting.%I', t)::regclass;
    EXECUTE format(
        'SELECT greatest(coalesce(max(o.id), 0),'
        ' coalesce(pg_sequence_last_value(%L::regclass), 0))'
        ' FROM soundhash_adopting.%I o',
        pg_get_serial_sequence(old_rel::text, 'id'), t)
      INTO last_id;
    PERFORM setval(pg_get_serial_sequence(quote_ident(t), 'id'), last_id + 1,
                   false);

    SELECT c.relowner, c.relacl INTO owner_id, acl
      FROM pg_class c WHERE c.oid = old_rel;
    EXECUTE format('ALTER TABLE %I OWNER TO %s', t, owner_id::regrole);
    FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
               FROM aclexplode(acl) a WHERE a.grantee <> owner_id LOOP
      EXECUTE format('GRANT %s ON TABLE %I TO %s%s', g.privilege_type, t,
                     CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                          ELSE g.grantee::regrole::text END,
                     CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION'
                          ELSE '' END);
    END LOOP;
  END LOOP;
END
$adopt$;

DROP TABLE soundhash_adopting.match_results,
           soundhash_adopting.audio_fingerprints, soundhash_adopting.videos,
           soundhash_adopting.channels, soundhash_adopting.processing_jobs;
DROP SCHEMA soundhash_adopting;

-- The Python layer writes naive UTC (datetime.utcnow()) into what are now
-- timestamptz columns; PostgreSQL reads those in the session's TimeZone, so
-- the database's default becomes UTC when this role may set it (it owns the
-- database). Otherwise migrate() reports that the operator must.
DO $adopt$
BEGIN
  IF (SELECT pg_has_role(current_user, d.datdba, 'MEMBER')
        FROM pg_database d WHERE d.datname = current_database()) THEN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(),
                   'UTC');
  END IF;
END
$adopt$;
