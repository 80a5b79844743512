// Target 4: 100,000 fingerprints with create_fingerprints_batch, against
// per-row create_fingerprint calls and a hand-written libpq text COPY.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "bench_env.hpp"

namespace db = soundhash::db;

namespace {

constexpr int kBatch = 100000;
constexpr int kPerRow = 2000;

db::NewFingerprint make(std::int64_t video, int i) {
  db::NewFingerprint f;
  f.video_id = video;
  f.start_time = i * 0.5;
  f.end_time = i * 0.5 + 0.5;
  f.fingerprint_hash = "h" + std::to_string(i % 50000);
  f.fingerprint_data = db::Bytes(64, static_cast<std::byte>(i));
  f.confidence_score = 0.75;
  f.peak_count = 12;
  f.sample_rate = 22050;
  f.segment_length = 0.5;
  return f;
}

std::vector<db::NewFingerprint> rows(int n) {
  const auto video = bench::first_video_row();
  std::vector<db::NewFingerprint> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(make(video, i));
  return out;
}

void truncate() {
  PGconn* c = bench::connect_raw();
  bench::exec_raw(c, "SET client_min_messages = warning");
  bench::exec_raw(c, "TRUNCATE audio_fingerprints CASCADE");
  PQfinish(c);
}

void BM_Fingerprints_LibraryBatch(benchmark::State& state) {
  const auto data = rows(kBatch);
  for (auto _ : state) {
    auto repo = db::video_repository(bench::database());
    benchmark::DoNotOptimize(repo->create_fingerprints_batch(data));
    state.PauseTiming();
    repo.session().commit();
    truncate();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          kBatch);
}

void BM_Fingerprints_LibraryPerRow(benchmark::State& state) {
  const auto data = rows(kPerRow);
  for (auto _ : state) {
    {
      auto repo = db::video_repository(bench::database());
      for (const auto& f : data)
        benchmark::DoNotOptimize(repo->create_fingerprint(f));
    }
    state.PauseTiming();
    truncate();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          kPerRow);
}

void BM_Fingerprints_LibpqTextCopy(benchmark::State& state) {
  const auto data = rows(kBatch);
  PGconn* c = bench::connect_raw();
  for (auto _ : state) {
    // What a hand-written loader does: text COPY, bytea as \\x hex.
    std::string buf;
    buf.reserve(static_cast<std::size_t>(kBatch) * 220);
    char line[160];
    static const char* hex = "0123456789abcdef";
    for (const auto& f : data) {
      std::snprintf(line, sizeof line, "%lld\t%.17g\t%.17g\t%s\t\\\\x",
                    static_cast<long long>(f.video_id), f.start_time,
                    f.end_time, f.fingerprint_hash.c_str());
      buf += line;
      for (auto b : f.fingerprint_data) {
        buf += hex[static_cast<unsigned>(b) >> 4];
        buf += hex[static_cast<unsigned>(b) & 15];
      }
      std::snprintf(line, sizeof line, "\t%.17g\t%d\t%d\t%.17g\n",
                    *f.confidence_score, *f.peak_count, *f.sample_rate,
                    *f.segment_length);
      buf += line;
    }
    bench::exec_raw(c, "BEGIN");
    bench::exec_raw(c,
                    "COPY audio_fingerprints (video_id, start_time, end_time, "
                    "fingerprint_hash, fingerprint_data, confidence_score, "
                    "peak_count, sample_rate, segment_length) FROM STDIN",
                    PGRES_COPY_IN);
    PQputCopyData(c, buf.data(), static_cast<int>(buf.size()));
    PQputCopyEnd(c, nullptr);
    PGresult* r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      state.SkipWithError(PQresultErrorMessage(r));
    PQclear(r);
    while (PGresult* extra = PQgetResult(c)) PQclear(extra);
    bench::exec_raw(c, "COMMIT");
    state.PauseTiming();
    truncate();
    state.ResumeTiming();
  }
  PQfinish(c);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          kBatch);
}

// The ceiling: the server generating the same rows itself (INSERT ...
// SELECT, no client data at all). No loader can beat this; it shows how much
// of a batch's time is the server's own work (three indexes, a foreign key).
void BM_Fingerprints_ServerSideCeiling(benchmark::State& state) {
  const auto video = std::to_string(bench::first_video_row());
  PGconn* c = bench::connect_raw();
  const std::string sql =
      "INSERT INTO audio_fingerprints (video_id, start_time, end_time, "
      "fingerprint_hash, fingerprint_data, confidence_score, peak_count, "
      "sample_rate, segment_length) SELECT " +
      video +
      ", i * 0.5, i * 0.5 + 0.5, 'h' || (i % 50000), "
      "decode(repeat(lpad(to_hex(i % 256), 2, '0'), 64), 'hex'), 0.75, 12, "
      "22050, 0.5 FROM generate_series(0, " +
      std::to_string(kBatch - 1) + ") i";
  for (auto _ : state) {
    bench::exec_raw(c, sql.c_str());
    state.PauseTiming();
    truncate();
    state.ResumeTiming();
  }
  PQfinish(c);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          kBatch);
}

}  // namespace

BENCHMARK(BM_Fingerprints_ServerSideCeiling)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2);
BENCHMARK(BM_Fingerprints_LibraryBatch)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2);
BENCHMARK(BM_Fingerprints_LibraryPerRow)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2);
BENCHMARK(BM_Fingerprints_LibpqTextCopy)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2);
