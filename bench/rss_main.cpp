// Target 6: RSS after 1,000,000 scoped reads stays within 10% of RSS after
// 10,000. Prints one JSON object.
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "bench_env.hpp"

namespace {

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const long total = argc > 1 ? std::stol(argv[1]) : 1000000;
  auto& database = bench::database();
  if (argc > 2 && std::string(argv[2]) == "jobs") {
    // For counting round trips (strace): `total` scoped job creations.
    for (long i = 0; i < total; ++i) {
      auto repo = soundhash::db::job_repository(database);
      repo->create_job_if_not_exists(
          "video_process",
          i % 2 ? bench::existing_target(static_cast<int>(i % 1000))
                : "rt-" + std::to_string(i) + "-" + std::to_string(total));
    }
    return 0;
  }
  std::mt19937 rng(3);
  long rss_at_10k = 0;
  for (long i = 1; i <= total; ++i) {
    auto repo = soundhash::db::video_repository(database);
    auto v = repo->get_video_by_id(
        bench::video_id(static_cast<int>(rng() % bench::kVideos)));
    if (!v) return 1;
    if (i == 10000) rss_at_10k = rss_kb();
  }
  const long rss_end = rss_kb();
  std::printf(
      "{\"reads\": %ld, \"rss_kb_at_10k\": %ld, \"rss_kb_at_end\": %ld}\n",
      total, rss_at_10k, rss_end);
  return 0;
}
