#include "soundhash/db/config.hpp"

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

[[noreturn]] void bad(const char* name, std::string_view value,
                      const char* expected) {
  throw InvalidArgument(std::string(name) + "=\"" + std::string(value) +
                        "\" is invalid: expected " + expected);
}

template <class T>
void read_number(const char* name, T& out, const char* expected) {
  const char* v = env(name);
  if (!v) return;
  const std::string_view s(v);
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) bad(name, s, expected);
  out = value;
}

void read_ms(const char* name, std::chrono::milliseconds& out) {
  long long ms = out.count();
  read_number(name, ms, "a whole number of milliseconds");
  if (ms < 0) bad(name, env(name), "a non-negative number of milliseconds");
  out = std::chrono::milliseconds(ms);
}

void read_bool(const char* name, bool& out) {
  const char* v = env(name);
  if (!v) return;
  const std::string_view s(v);
  if (s == "1" || s == "true" || s == "on" || s == "yes") {
    out = true;
  } else if (s == "0" || s == "false" || s == "off" || s == "no") {
    out = false;
  } else {
    bad(name, s, "one of 1/0, true/false, on/off, yes/no");
  }
}

}  // namespace

Config Config::from_env() {
  Config c;
  if (const char* url = env("DATABASE_URL")) c.conninfo = url;
  read_number("SOUNDHASH_DB_POOL_SIZE", c.pool_size, "a positive integer");
  read_ms("SOUNDHASH_DB_ACQUIRE_TIMEOUT_MS", c.acquire_timeout);
  read_ms("SOUNDHASH_DB_PING_AFTER_IDLE_MS", c.ping_after_idle);
  read_number("SOUNDHASH_DB_MAX_RETRIES", c.retry.max_retries,
              "a non-negative integer");
  read_ms("SOUNDHASH_DB_RETRY_INITIAL_DELAY_MS", c.retry.initial_delay);
  read_ms("SOUNDHASH_DB_RETRY_MAX_DELAY_MS", c.retry.max_delay);
  read_number("SOUNDHASH_DB_RETRY_MULTIPLIER", c.retry.multiplier,
              "a number >= 1");
  read_number("SOUNDHASH_DB_RETRY_JITTER", c.retry.jitter,
              "a number in [0, 1]");
  read_bool("SOUNDHASH_DB_PREPARED_STATEMENTS", c.prepared_statements);
  c.validate();
  return c;
}

void Config::validate() const {
  if (pool_size == 0) throw InvalidArgument("Config.pool_size must be >= 1");
  if (acquire_timeout.count() < 0) {
    throw InvalidArgument("Config.acquire_timeout must be >= 0");
  }
  if (ping_after_idle.count() < 0) {
    throw InvalidArgument("Config.ping_after_idle must be >= 0");
  }
  if (conninfo.find('\0') != std::string::npos) {
    throw InvalidArgument("Config.conninfo contains a NUL byte");
  }
  retry.validate();
}

}  // namespace soundhash::db
