-- Wake-ups for jobs whose run_at is ahead (a delay, a retry's backoff): they
-- also notify channel soundhash_jobs_delayed with payload
-- "<milliseconds until run_at> <job type>" (the type last, as it may hold any
-- character), so a listener can wake when they come due instead of at its
-- next poll. The wait is measured from one clock_timestamp() per statement:
-- the notification is delivered at commit, later, so a listener counting the
-- wait from receipt never wakes early. Jobs runnable now notify
-- soundhash_jobs as before, so listeners of that channel alone still hear
-- them.

CREATE FUNCTION soundhash_notify_job(p_job_type text, p_run_at timestamptz,
                                     p_now timestamptz)
  RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  wait_ms bigint := ceil(extract(epoch FROM p_run_at - p_now) * 1000);
BEGIN
  IF wait_ms > 0 THEN
    PERFORM pg_notify('soundhash_jobs_delayed', wait_ms || ' ' || p_job_type);
  ELSE
    PERFORM pg_notify('soundhash_jobs', p_job_type);
  END IF;
END
$fn$;

-- Per statement and job type: one notification if any new job is runnable
-- now, one for the earliest of those that are not.
CREATE OR REPLACE FUNCTION soundhash_notify_new_jobs() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM soundhash_notify_job(g.job_type, g.run_at, t0)
     FROM (SELECT n.job_type, min(n.run_at) AS run_at FROM new_jobs n
            WHERE n.status = 'pending' AND n.run_at <= t0
            GROUP BY n.job_type
           UNION ALL
           SELECT n.job_type, min(n.run_at) FROM new_jobs n
            WHERE n.status = 'pending' AND n.run_at > t0
            GROUP BY n.job_type) g;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION soundhash_notify_requeued_job() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM soundhash_notify_job(NEW.job_type, NEW.run_at, clock_timestamp());
  RETURN NULL;
END
$fn$;
