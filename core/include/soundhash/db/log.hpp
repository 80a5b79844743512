#pragma once
// The library logs through one spdlog logger named "soundhash.db". Register a
// logger of that name before first use to route it elsewhere, or add sinks:
//
//   soundhash::db::logger().sinks().push_back(my_sink);

#include <spdlog/logger.h>

namespace soundhash::db {

/// The "soundhash.db" logger: the one registered with spdlog under that name
/// when the library first logs, or a new stderr logger otherwise.
spdlog::logger& logger();

}  // namespace soundhash::db
