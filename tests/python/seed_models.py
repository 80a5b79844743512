"""SoundHash's Python schema, as its services declare it.

The tables, columns, types and indexes of the models at commit 87a6a61 of
subculture-collective/soundhash (src/database/models.py, which its Alembic
initial migration creates), declared here for the mixed-fleet test with
SQLAlchemy 1.4. Python-side defaults are the models' too: they decide what
the Python services write.
"""

from datetime import datetime

from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Index,
                        Integer, LargeBinary, String, Text)
from sqlalchemy.orm import declarative_base

Base = declarative_base()


def utcnow():
    return datetime.utcnow()


class Channel(Base):
    __tablename__ = "channels"
    id = Column(Integer, primary_key=True)
    channel_id = Column(String(255), nullable=False, unique=True)
    channel_name = Column(String(500))
    description = Column(Text)
    subscriber_count = Column(Integer)
    video_count = Column(Integer)
    created_at = Column(DateTime, default=utcnow)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow)
    last_processed = Column(DateTime)
    is_active = Column(Boolean, default=True)


class Video(Base):
    __tablename__ = "videos"
    id = Column(Integer, primary_key=True)
    video_id = Column(String(255), nullable=False, unique=True)
    channel_id = Column(Integer, ForeignKey("channels.id"), nullable=False)
    title = Column(String(1000))
    description = Column(Text)
    duration = Column(Float)
    view_count = Column(Integer)
    like_count = Column(Integer)
    upload_date = Column(DateTime)
    url = Column(String(500))
    thumbnail_url = Column(String(500))
    processed = Column(Boolean, default=False)
    processing_started = Column(DateTime)
    processing_completed = Column(DateTime)
    processing_error = Column(Text)
    created_at = Column(DateTime, default=utcnow)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow)


class AudioFingerprint(Base):
    __tablename__ = "audio_fingerprints"
    id = Column(Integer, primary_key=True)
    video_id = Column(Integer, ForeignKey("videos.id"), nullable=False)
    start_time = Column(Float, nullable=False)
    end_time = Column(Float, nullable=False)
    fingerprint_hash = Column(String(64), nullable=False)
    fingerprint_data = Column(LargeBinary)
    sample_rate = Column(Integer, default=22050)
    segment_length = Column(Float)
    confidence_score = Column(Float)
    peak_count = Column(Integer)
    created_at = Column(DateTime, default=utcnow)


class MatchResult(Base):
    __tablename__ = "match_results"
    id = Column(Integer, primary_key=True)
    query_fingerprint_id = Column(Integer, ForeignKey("audio_fingerprints.id"))
    matched_fingerprint_id = Column(Integer,
                                    ForeignKey("audio_fingerprints.id"))
    similarity_score = Column(Float, nullable=False)
    match_confidence = Column(Float)
    query_source = Column(String(50))
    query_url = Column(String(1000))
    query_user = Column(String(100))
    responded = Column(Boolean, default=False)
    response_sent_at = Column(DateTime)
    created_at = Column(DateTime, default=utcnow)


class ProcessingJob(Base):
    __tablename__ = "processing_jobs"
    id = Column(Integer, primary_key=True)
    job_type = Column(String(50))
    status = Column(String(20))
    target_id = Column(String(255))
    parameters = Column(Text)
    progress = Column(Float, default=0.0)
    current_step = Column(String(200))
    created_at = Column(DateTime, default=utcnow)
    started_at = Column(DateTime)
    completed_at = Column(DateTime)
    error_message = Column(Text)
    retry_count = Column(Integer, default=0)
    max_retries = Column(Integer, default=3)


Index("idx_videos_channel_id", Video.channel_id)
Index("idx_videos_video_id", Video.video_id)
Index("idx_videos_processed", Video.processed)
Index("idx_fingerprints_video_id", AudioFingerprint.video_id)
Index("idx_fingerprints_hash", AudioFingerprint.fingerprint_hash)
Index("idx_fingerprints_time", AudioFingerprint.start_time,
      AudioFingerprint.end_time)
Index("idx_match_results_similarity", MatchResult.similarity_score)
Index("idx_processing_jobs_status", ProcessingJob.status)
Index("idx_processing_jobs_type", ProcessingJob.job_type)
