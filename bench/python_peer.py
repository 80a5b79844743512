#!/usr/bin/python3
"""The stack this library replaces: SQLAlchemy ORM + psycopg2, one session per
operation as in the seed's Python guide. Prints ops/s as JSON.

    python_peer.py CONNINFO SECONDS
"""
import json
import random
import sys
import time
from contextlib import contextmanager

import psycopg2

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Float, Integer,
                        String, Text, create_engine, func)
from sqlalchemy.orm import declarative_base, sessionmaker

Base = declarative_base()


class Video(Base):
    __tablename__ = "videos"
    id = Column(BigInteger, primary_key=True)
    video_id = Column(String(64))
    channel_id = Column(BigInteger)
    title = Column(String(500))
    description = Column(Text)
    duration = Column(Float)
    view_count = Column(BigInteger)
    like_count = Column(BigInteger)
    upload_date = Column(DateTime(timezone=True))
    url = Column(String(500))
    thumbnail_url = Column(String(500))
    processed = Column(Boolean)
    processing_started = Column(DateTime(timezone=True))
    processing_completed = Column(DateTime(timezone=True))
    processing_error = Column(Text)
    created_at = Column(DateTime(timezone=True))
    updated_at = Column(DateTime(timezone=True))


class ProcessingJob(Base):
    __tablename__ = "processing_jobs"
    id = Column(BigInteger, primary_key=True)
    job_type = Column(String(50))
    status = Column(String(20), default="pending")
    target_id = Column(String(255))
    parameters = Column(Text)
    progress = Column(Float, default=0)
    current_step = Column(String(255))
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    started_at = Column(DateTime(timezone=True))
    completed_at = Column(DateTime(timezone=True))
    error_message = Column(Text)
    retry_count = Column(Integer, default=0)
    max_retries = Column(Integer, default=3)


def main():
    conninfo, seconds = sys.argv[1], float(sys.argv[2])
    engine = create_engine("postgresql+psycopg2://",
                           creator=lambda: psycopg2.connect(conninfo))
    Session = sessionmaker(bind=engine)

    @contextmanager
    def session_scope():  # the seed's get_db_session()
        s = Session()
        try:
            yield s
            s.commit()
        except Exception:
            s.rollback()
            raise
        finally:
            s.close()

    rng = random.Random(1)

    def scoped_read():
        with session_scope() as s:
            v = s.query(Video).filter_by(video_id="bench-video-%d" % rng.randrange(10000)).first()
            assert v is not None

    counter = [0]

    def create_job():
        counter[0] += 1
        if counter[0] % 2 == 0:
            target = "bench-existing-%d" % rng.randrange(1000)
        else:
            target = "bench-new-py-%d-%d" % (time.time_ns(), counter[0])
        with session_scope() as s:
            job = (s.query(ProcessingJob)
                   .filter(ProcessingJob.job_type == "video_process",
                           ProcessingJob.target_id == target,
                           ProcessingJob.status.in_(["pending", "running"]))
                   .first())
            if job is None:
                s.add(ProcessingJob(job_type="video_process", target_id=target))

    out = {}
    for name, fn in (("scoped_read", scoped_read), ("create_job", create_job)):
        for _ in range(50):  # warm-up
            fn()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            n += 1
        out[name] = n / (time.perf_counter() - start)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
