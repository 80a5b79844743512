#pragma once
// The library logs through one spdlog logger named "soundhash.db". Register a
// logger of that name before first use to route it elsewhere, or add sinks:
//
//   #include <spdlog/logger.h>  // to call the logger's methods
//   soundhash::db::logger().sinks().push_back(my_sink);
//
// Only declared here: a file that includes the library does not pay for
// spdlog unless it uses the logger itself.

namespace spdlog {
class logger;
}  // namespace spdlog

namespace soundhash::db {

/// The "soundhash.db" logger: the one registered with spdlog under that name
/// when the library first logs, or a new stderr logger otherwise.
spdlog::logger& logger();

}  // namespace soundhash::db
