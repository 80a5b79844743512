#include "soundhash/db/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace soundhash::db {

spdlog::logger& logger() {
  // Resolved once: a logger registered under the name before first use wins.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    if (auto existing = spdlog::get("soundhash.db")) return existing;
    auto created = spdlog::stderr_color_mt("soundhash.db");
    return created;
  }();
  return *instance;
}

}  // namespace soundhash::db
