#include "new_job_options.hpp"

#include <chrono>
#include <cstdint>
#include <limits>

#include "cli.hpp"

namespace soundhash::cli {
namespace {

// A year: far enough for any delay or timeout, near enough to catch a typo.
constexpr std::int64_t kMaxSeconds = 366LL * 24 * 3600;

}  // namespace

void read_new_job_options(const ParsedArgs& args, db::NewJob& job) {
  if (auto v = args.value("--params")) job.parameters = *v;
  constexpr auto kIntMax = std::numeric_limits<std::int32_t>::max();
  if (auto v = args.value("--priority")) {
    job.priority = static_cast<std::int32_t>(
        parse_integer(*v, "--priority", -kIntMax - 1, kIntMax));
  }
  if (auto v = args.value("--max-retries")) {
    job.max_retries = static_cast<std::int32_t>(
        parse_integer(*v, "--max-retries", 0, kIntMax));
  }
  if (auto v = args.value("--delay")) {
    job.delay =
        std::chrono::seconds(parse_integer(*v, "--delay", 0, kMaxSeconds));
  }
  if (auto v = args.value("--timeout")) {
    job.timeout =
        std::chrono::seconds(parse_integer(*v, "--timeout", 1, kMaxSeconds));
  }
  if (auto v = args.value("--key")) {
    if (v->empty() || v->size() > 255) {
      throw UsageError("--key: 1 to 255 bytes");
    }
    job.concurrency_key = *v;
  }
}

}  // namespace soundhash::cli
