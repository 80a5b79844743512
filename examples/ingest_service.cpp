// A small ingest service: channels and videos come in, a job per video is
// created idempotently, a db::Worker runs the jobs, each writing its video's
// fingerprints in one batch and completing in the same unit; SIGINT/SIGTERM
// stop it cleanly (work in flight finishes or rolls back, nothing is
// half-written).
//
//   ingest_service [--channels N] [--videos N] [--workers N] [--until-idle]
//
// Reads DATABASE_URL. With --until-idle it exits once every job is done.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <soundhash/db.hpp>
#include <string>
#include <vector>

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// The signal handler may only touch lock-free atomics and request_stop().
std::atomic<bool> stopping{false};
std::atomic<db::Worker*> running_worker{nullptr};
extern "C" void on_signal(int) {
  stopping = true;
  if (auto* w = running_worker.load()) w->request_stop();
}

struct Options {
  int channels = 2;
  int videos = 5;  // per channel
  int workers = 2;
  bool until_idle = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ingest_service: %s needs a number\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--channels") {
      o.channels = number();
    } else if (a == "--videos") {
      o.videos = number();
    } else if (a == "--workers") {
      o.workers = number();
    } else if (a == "--until-idle") {
      o.until_idle = true;
    } else {
      std::fprintf(stderr,
                   "usage: ingest_service [--channels N] [--videos N] "
                   "[--workers N] [--until-idle]\n");
      std::exit(2);
    }
  }
  return o;
}

// Channels and videos in; one fingerprint job per video, created
// idempotently (running the service twice creates nothing new).
void ingest(db::Database& database, const Options& o) {
  for (int c = 0; c < o.channels && !stopping; ++c) {
    const std::string channel_id = "UC_ingest_" + std::to_string(c);
    auto s = database.session();  // one unit per channel
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    auto channel = videos.get_channel_by_id(channel_id);
    const auto channel_row =
        channel
            ? channel->id
            : videos.create_channel(channel_id, "Channel " + std::to_string(c))
                  .id;
    for (int v = 0; v < o.videos; ++v) {
      const std::string video_id = channel_id + "_v" + std::to_string(v);
      if (!videos.get_video_by_id(video_id)) {
        videos.create_video(video_id, channel_row, "Video " + std::to_string(v),
                            "https://example.invalid/" + video_id,
                            {.duration = 60.0 + v});
      }
      // A completed job counts too: a video is fingerprinted once.
      jobs.create_job_if_not_exists("fingerprint", video_id, std::nullopt,
                                    {"pending", "running", "completed"});
    }
  }  // each channel's unit commits here
}

// "Fingerprints" a video: synthetic segments, written in one COPY.
std::vector<db::NewFingerprint> fingerprint(const db::Video& v) {
  std::mt19937 rng(static_cast<unsigned>(v.id));
  std::vector<db::NewFingerprint> out;
  const int segments = static_cast<int>(v.duration.value_or(60.0) / 5.0);
  for (int i = 0; i < segments; ++i) {
    db::NewFingerprint f;
    f.video_id = v.id;
    f.start_time = i * 5.0;
    f.end_time = i * 5.0 + 5.0;
    f.fingerprint_hash = std::to_string(rng() % 100000);
    f.fingerprint_data = db::Bytes(32);
    for (auto& b : f.fingerprint_data) b = static_cast<std::byte>(rng());
    f.confidence_score = 0.9;
    f.sample_rate = 22050;
    f.segment_length = 5.0;
    out.push_back(std::move(f));
  }
  return out;
}

// One unit per job: fingerprints, video and job state commit together or not
// at all (complete_in); transact re-runs it on transient errors, and a throw
// fails the attempt.
void fingerprint_job(db::JobContext& job) {
  job.progress(10, "fingerprinting");  // sent with the next heartbeat
  job.database().transact([&](db::Session& s) {
    db::VideoRepository videos{s};
    auto video = videos.get_video_by_id(job.job().target_id);
    if (!video) throw std::runtime_error("no video " + job.job().target_id);
    videos.create_fingerprints_batch(fingerprint(*video));
    videos.mark_video_processed(video->id);
    job.complete_in(s);
  });
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto& database = db::Database::global();
  db::migrate(database);
  ingest(database, o);
  std::printf("ingest_service: ingested %d channels x %d videos\n", o.channels,
              o.videos);

  db::Worker worker{database,
                    {.threads = o.workers,
                     .poll = std::chrono::milliseconds(200),
                     .until_idle = o.until_idle}};
  worker.on("fingerprint", fingerprint_job);
  running_worker = &worker;
  if (stopping) worker.request_stop();  // a signal during the ingest
  db::WorkerStats stats;
  try {
    stats = worker.run();
  } catch (...) {
    running_worker = nullptr;
    throw;
  }
  running_worker = nullptr;

  const auto counts = database.transact([](db::Session& s) {
    return db::JobRepository{s}.count_jobs_by_status();
  });
  std::printf("ingest_service: %s; processed %d jobs; jobs by status:",
              stopping ? "stopped by signal" : "idle",
              static_cast<int>(stats.completed));
  for (const auto& [status, n] : counts) {
    std::printf(" %s=%lld", status.c_str(), static_cast<long long>(n));
  }
  std::printf("\n");
  return 0;
} catch (const db::Error& e) {
  std::fprintf(stderr, "ingest_service: database error: %s\n", e.what());
  return 1;
}
