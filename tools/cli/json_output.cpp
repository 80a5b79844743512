#include "json_output.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace soundhash::cli {

Json json_number(double value) {
  // 2^53: past it a double holds only whole numbers, not all of them exactly.
  constexpr double kExactWhole = 9007199254740992.0;
  if (std::isfinite(value) && std::trunc(value) == value &&
      std::fabs(value) <= kExactWhole) {
    return static_cast<std::int64_t>(value);
  }
  return value;
}

std::string json_dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void print_json_line(std::FILE* out, const Json& value) {
  fmt::print(out, "{}\n", json_dump(value));
}

}  // namespace soundhash::cli
