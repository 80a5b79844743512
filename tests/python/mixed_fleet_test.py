#!/usr/bin/python3
"""The mixed fleet: SoundHash's Python services and soundhash-db's C++ on one
database, during a move from one to the other.

With Debian's SQLAlchemy 1.4 and psycopg2 against the test server, for a
database that the Python layer made and `soundhash-db migrate` adopted, and
for a fresh soundhash-db schema:
  - every row the Python layer wrote survives adoption, converted;
  - the C++ repositories read what Python wrote (tests/python/fleet_peer);
  - the Python ORM's repository operations (those of the seed's
    src/database/repositories.py, written here) run unchanged, on rows either
    side wrote.
The databases' default TimeZone is not UTC, as on many servers.

  mixed_fleet_test.py --cli SOUNDHASH_DB --peer FLEET_PEER --state STATE_DIR
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import unittest

import psycopg2
import psycopg2.extensions
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_models as m  # noqa: E402

ARGS = None
UTC = dt.timezone.utc
LOCAL_ZONE = "America/New_York"


def admin_dsn():
    url = os.environ.get("SOUNDHASH_TEST_DATABASE_URL")
    if url:
        return url
    with open(os.path.join(ARGS.state, "conninfo")) as f:
        return f.read().strip()


def run_admin(sql):
    conn = psycopg2.connect(admin_dsn())
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


class PythonServices:
    """What SoundHash's Python repositories do, operation by operation: ORM
    queries and inserts, each committing, naive UTC timestamps."""

    def __init__(self, session):
        self.s = session

    def create_channel(self, channel_id, channel_name=None):
        c = m.Channel(channel_id=channel_id, channel_name=channel_name,
                      description=None)
        self.s.add(c)
        self.s.commit()
        return c

    def get_channel_by_id(self, channel_id):
        return (self.s.query(m.Channel)
                .filter(m.Channel.channel_id == channel_id).first())

    def create_video(self, video_id, channel_id, title=None):
        v = m.Video(video_id=video_id, channel_id=channel_id, title=title,
                    duration=None, url=None)
        self.s.add(v)
        self.s.commit()
        return v

    def get_video_by_id(self, video_id):
        return (self.s.query(m.Video)
                .filter(m.Video.video_id == video_id).first())

    def get_unprocessed_videos(self, limit=100):
        return self.s.query(m.Video).filter(~m.Video.processed).limit(
            limit).all()

    def mark_video_processed(self, id_, success=True):
        v = self.s.get(m.Video, id_)
        v.processed = success
        v.processing_completed = dt.datetime.utcnow()
        self.s.commit()

    def create_fingerprint(self, video_id, start, end, hash_, data):
        f = m.AudioFingerprint(video_id=video_id, start_time=start,
                               end_time=end, fingerprint_hash=hash_,
                               fingerprint_data=data)
        self.s.add(f)
        self.s.commit()
        return f

    def find_matching_fingerprints(self, hash_):
        return (self.s.query(m.AudioFingerprint)
                .filter(m.AudioFingerprint.fingerprint_hash == hash_).all())

    def create_match_result(self, query_id, matched_id, score, url=None):
        r = m.MatchResult(query_fingerprint_id=query_id,
                          matched_fingerprint_id=matched_id,
                          similarity_score=score, query_source="manual",
                          query_url=url, query_user="tester")
        self.s.add(r)
        self.s.commit()
        return r

    def get_top_matches(self, query_id, limit=10):
        return (self.s.query(m.MatchResult)
                .filter(m.MatchResult.query_fingerprint_id == query_id)
                .order_by(m.MatchResult.similarity_score.desc())
                .limit(limit).all())

    def get_jobs_by_target(self, job_type, target_id, statuses=None):
        q = self.s.query(m.ProcessingJob).filter(
            m.ProcessingJob.job_type == job_type,
            m.ProcessingJob.target_id == target_id)
        if statuses:
            q = q.filter(m.ProcessingJob.status.in_(statuses))
        return q.order_by(m.ProcessingJob.created_at.desc()).all()

    def job_exists(self, job_type, target_id, statuses=None):
        q = self.s.query(m.ProcessingJob).filter(
            m.ProcessingJob.job_type == job_type,
            m.ProcessingJob.target_id == target_id)
        if statuses:
            q = q.filter(m.ProcessingJob.status.in_(statuses))
        return self.s.query(q.exists()).scalar()

    def create_job_if_not_exists(self, job_type, target_id, statuses=None):
        if self.job_exists(job_type, target_id, statuses):
            return self.get_jobs_by_target(job_type, target_id,
                                           statuses)[0], False
        j = m.ProcessingJob(job_type=job_type, target_id=target_id,
                            parameters=None, status="pending")
        self.s.add(j)
        self.s.commit()
        return j, True

    def get_pending_jobs(self, job_type=None, limit=10):
        q = self.s.query(m.ProcessingJob).filter(
            m.ProcessingJob.status == "pending")
        if job_type:
            q = q.filter(m.ProcessingJob.job_type == job_type)
        return q.order_by(m.ProcessingJob.created_at).limit(limit).all()

    def update_job_status(self, id_, status, progress=None, step=None):
        j = self.s.get(m.ProcessingJob, id_)
        j.status = status
        if progress is not None:
            j.progress = progress
        if step:
            j.current_step = step
        if status == "running" and not j.started_at:
            j.started_at = dt.datetime.utcnow()
        elif status in ("completed", "failed"):
            j.completed_at = dt.datetime.utcnow()
        self.s.commit()


def as_utc(value):
    """A timestamp read back: aware from timestamptz, naive UTC before."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class FleetCase(unittest.TestCase):
    kind = None

    def setUp(self):
        self.dbname = f"sh_fleet_{self.kind}_{os.getpid()}"
        run_admin(f'DROP DATABASE IF EXISTS "{self.dbname}"')
        run_admin(f'CREATE DATABASE "{self.dbname}"')
        run_admin(f'ALTER DATABASE "{self.dbname}" SET timezone TO '
                  f"'{LOCAL_ZONE}'")
        self.dsn = psycopg2.extensions.make_dsn(admin_dsn(),
                                                dbname=self.dbname)
        self.engines = []

    def tearDown(self):
        for e in self.engines:
            e.dispose()
        run_admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

    def engine(self, **connect_kwargs):
        e = create_engine("postgresql+psycopg2://",
                          creator=lambda: psycopg2.connect(
                              self.dsn, **connect_kwargs))
        self.engines.append(e)
        return e

    def tool(self, *argv, expect=0):
        env = dict(os.environ, DATABASE_URL=self.dsn)
        r = subprocess.run(list(argv), env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, expect,
                         f"{argv}: {r.stdout}\n{r.stderr}")
        return r.stdout

    def peer(self, *args):
        lines = self.tool(ARGS.peer, *args).splitlines()
        return [line.split() for line in lines]

    def rows(self, table):
        conn = psycopg2.connect(self.dsn)
        try:
            cur = conn.cursor()
            cur.execute(f"SELECT * FROM {table} ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            conn.close()

    def python_writes(self, services, tag):
        """The Python services ingest a channel, a video, fingerprints,
        a match and jobs; returns what they made."""
        ch = services.create_channel(f"UC-{tag}", "n" * 480)
        v = services.create_video(f"vid-{tag}", ch.id, "t" * 990)
        f1 = services.create_fingerprint(v.id, 0.0, 1.5, f"h-{tag}",
                                         b"\x00\xff")
        f2 = services.create_fingerprint(v.id, 1.5, 3.0, f"h-{tag}", b"\x01")
        match = services.create_match_result(f1.id, f2.id, 0.75, "u" * 900)
        job, created = services.create_job_if_not_exists(
            "video_process", v.video_id, ["pending", "running"])
        self.assertTrue(created)
        again, created = services.create_job_if_not_exists(
            "video_process", v.video_id, ["pending", "running"])
        self.assertFalse(created)
        self.assertEqual(again.id, job.id)
        return dict(channel=ch.id, video=v.id, fps=(f1.id, f2.id),
                    match=match.id, job=job.id, video_id=v.video_id,
                    channel_id=ch.channel_id, hash=f"h-{tag}")

    def check_cpp_reads(self, made, job_progress):
        """The C++ repositories read the Python rows: the ids, lengths, and
        created_at as the instant it was (within a minute of now)."""
        out = self.peer("read", made["channel_id"], made["video_id"],
                        made["hash"])
        facts = {}
        for words in out:
            facts.setdefault(words[0], []).append(words[1:])
        channel = facts["channel"][0]
        self.assertEqual(int(channel[0]), made["channel"])
        now_us = dt.datetime.now(UTC).timestamp() * 1e6
        self.assertLess(abs(int(channel[1]) - now_us), 60e6,
                        "created_at is not the instant Python wrote")
        self.assertEqual(channel[2], "480")
        self.assertEqual(facts["video"][0],
                         [str(made["video"]), str(made["channel"]), "990"])
        self.assertEqual(facts["fingerprints"][0][0], "2")
        self.assertIn([str(made["match"]), str(made["fps"][0]),
                       str(made["fps"][1]), "0.75"], facts["match"])
        job = facts["job"][0]
        self.assertEqual(job[:3], [str(made["job"]), "video_process",
                                   "running"])
        self.assertAlmostEqual(float(job[3]), job_progress)

    def check_python_reads_cpp(self, services, tag):
        """Rows the C++ repositories wrote, through the Python ORM."""
        out = self.peer("write", tag)[0]
        self.assertEqual(out[0], "wrote")
        ch_id, v_id, f_id, m_id, job_id = (int(x) for x in out[1:6])
        ch = services.get_channel_by_id(f"UC-{tag}")
        self.assertEqual(ch.id, ch_id)
        self.assertEqual(ch.channel_name, f"C++ channel {tag}")
        self.assertTrue(ch.is_active)
        self.assertLess(abs(as_utc(ch.created_at) - dt.datetime.now(UTC)),
                        dt.timedelta(minutes=1))
        v = services.get_video_by_id(f"vid-{tag}")
        self.assertEqual((v.id, v.channel_id), (v_id, ch_id))
        self.assertIn(v.id, [x.id for x in services.get_unprocessed_videos(
            1000)])
        services.mark_video_processed(v.id)
        fps = services.find_matching_fingerprints(f"hcpp-{tag}")
        self.assertEqual([(f.id, f.fingerprint_data) for f in fps],
                         [(f_id, b"\x01\x02\x03")])
        top = services.get_top_matches(f_id)
        self.assertEqual([(r.id, r.responded, r.response_sent_at)
                          for r in top], [(m_id, False, None)])
        job, created = services.create_job_if_not_exists(
            "video_process", f"vid-{tag}", ["pending", "running"])
        self.assertFalse(created)
        self.assertEqual(job.id, job_id)
        self.assertIn(job_id, [j.id for j in services.get_pending_jobs(
            "video_process", 100)])
        services.update_job_status(job_id, "running", 50.0, "fingerprint")
        services.update_job_status(job_id, "completed")
        self.assertIsNotNone(services.s.get(m.ProcessingJob,
                                            job_id).completed_at)

    def python_then_cpp(self, engine, tag, progress_scale):
        with Session(engine) as s:
            services = PythonServices(s)
            made = self.python_writes(services, tag)
            services.update_job_status(made["job"], "running",
                                       0.4 * progress_scale, "download")
            self.check_cpp_reads(made, 0.4 * progress_scale)
            self.check_python_reads_cpp(services, f"cpp-{tag}")


class AdoptedDatabase(FleetCase):
    kind = "adopted"

    def test_adopt_then_share(self):
        before_engine = self.engine()
        m.Base.metadata.create_all(before_engine)
        with before_engine.begin() as c:
            c.execute(text("CREATE TABLE alembic_version (version_num "
                           "VARCHAR(32) PRIMARY KEY)"))
            c.execute(text("INSERT INTO alembic_version "
                           "VALUES ('ce1ffb204f19')"))
        with Session(before_engine) as s:
            services = PythonServices(s)
            made = self.python_writes(services, "py")
            services.update_job_status(made["job"], "running", 0.4, "step")
            services.create_job_if_not_exists("channel_ingest", "UC-py")
            old = services.create_job_if_not_exists("cleanup", "all")[0]
            services.update_job_status(old.id, "completed", 1.0)
        before = {t: self.rows(t) for t in (
            "channels", "videos", "audio_fingerprints", "match_results",
            "processing_jobs")}
        before_engine.dispose()

        plan = self.tool(ARGS.cli, "migrate", "--dry-run")
        self.assertIn("SoundHash (Python) database", plan)
        self.assertIn("1 channels", plan)
        self.assertEqual(self.rows("channels"), before["channels"],
                         "a dry run changes nothing")
        out = self.tool(ARGS.cli, "migrate")
        self.assertIn("adopted a SoundHash (Python) database", out)
        self.assertIn("applied 0 migrations",
                      self.tool(ARGS.cli, "migrate"))

        # Every row survived, converted.
        for table, old_rows in before.items():
            new_rows = self.rows(table)
            self.assertEqual([r["id"] for r in new_rows],
                             [r["id"] for r in old_rows], table)
            for old_row, new_row in zip(old_rows, new_rows):
                for column, value in old_row.items():
                    got = new_row[column]
                    if isinstance(value, dt.datetime):
                        self.assertEqual(got, as_utc(value), column)
                    elif column == "progress":
                        self.assertAlmostEqual(got, value * 100)
                    elif isinstance(value, memoryview):
                        self.assertEqual(bytes(got), bytes(value))
                    else:
                        self.assertEqual(got, value, f"{table}.{column}")

        # The C++ side reads them; then both sides share the database. New
        # sessions are in UTC now (the adoption set the database's default),
        # so Python's naive UTC lands right; its progress is now 0-100.
        with Session(self.engine()) as s:
            self.assertEqual(
                s.execute(text("SHOW timezone")).scalar(), "UTC")
        self.check_cpp_reads(made, 40.0)
        self.python_then_cpp(self.engine(), "after", 100)
        out = self.tool(ARGS.cli, "jobs", "list")
        self.assertIn("vid-py", out)


class FreshSchema(FleetCase):
    kind = "fresh"

    def test_fresh_schema_shared(self):
        out = self.tool(ARGS.cli, "migrate", "--dry-run")
        self.assertIn("no SoundHash tables", out)
        self.tool(ARGS.cli, "migrate")
        # The database's default zone is not UTC here: a Python service
        # writing naive UTC must run its sessions in UTC (the connection
        # option below, or ALTER DATABASE ... SET timezone).
        with Session(self.engine()) as s:
            wrong = PythonServices(s).create_channel("UC-local")
            s.refresh(wrong)
            off = dt.datetime.now(UTC) - as_utc(wrong.created_at)
            self.assertGreater(abs(off), dt.timedelta(hours=3),
                               "naive UTC read in New York time is off")
        self.python_then_cpp(self.engine(options="-c timezone=UTC"), "fresh",
                             100)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--state", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
