#include "soundhash/db/config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {
namespace {

// Every setting once: its environment variable, its conninfo key, and how a
// text value is applied. from_env() and the conninfo both go through this.
struct Setting {
  const char* env;
  const char* key;
  std::function<void(Config&, std::string_view, const std::string& where)> set;
};

[[noreturn]] void bad(const std::string& where, std::string_view value,
                      const char* expected) {
  throw InvalidArgument(where + "=\"" + std::string(value) +
                        "\" is invalid: expected " + expected);
}

template <class T>
T number(std::string_view s, const std::string& where, const char* expected) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    bad(where, s, expected);
  }
  return value;
}

std::chrono::milliseconds ms(std::string_view s, const std::string& where) {
  const auto v = number<long long>(s, where, "a whole number of milliseconds");
  if (v < 0) bad(where, s, "a non-negative number of milliseconds");
  return std::chrono::milliseconds(v);
}

bool boolean(std::string_view s, const std::string& where) {
  if (s == "1" || s == "true" || s == "on" || s == "yes") return true;
  if (s == "0" || s == "false" || s == "off" || s == "no") return false;
  bad(where, s, "one of 1/0, true/false, on/off, yes/no");
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = {
      {"SOUNDHASH_DB_POOL_SIZE", "soundhash_pool_size",
       [](Config& c, std::string_view v, const std::string& w) {
         c.pool_size = number<std::size_t>(v, w, "a positive integer");
       }},
      {"SOUNDHASH_DB_ACQUIRE_TIMEOUT_MS", "soundhash_acquire_timeout_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.acquire_timeout = ms(v, w);
       }},
      {"SOUNDHASH_DB_PING_AFTER_IDLE_MS", "soundhash_ping_after_idle_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.ping_after_idle = ms(v, w);
       }},
      {"SOUNDHASH_DB_MAX_RETRIES", "soundhash_max_retries",
       [](Config& c, std::string_view v, const std::string& w) {
         c.retry.max_retries = number<int>(v, w, "a non-negative integer");
       }},
      {"SOUNDHASH_DB_RETRY_INITIAL_DELAY_MS",
       "soundhash_retry_initial_delay_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.retry.initial_delay = ms(v, w);
       }},
      {"SOUNDHASH_DB_RETRY_MAX_DELAY_MS", "soundhash_retry_max_delay_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.retry.max_delay = ms(v, w);
       }},
      {"SOUNDHASH_DB_RETRY_MULTIPLIER", "soundhash_retry_multiplier",
       [](Config& c, std::string_view v, const std::string& w) {
         c.retry.multiplier = number<double>(v, w, "a number >= 1");
       }},
      {"SOUNDHASH_DB_RETRY_JITTER", "soundhash_retry_jitter",
       [](Config& c, std::string_view v, const std::string& w) {
         c.retry.jitter = number<double>(v, w, "a number in [0, 1]");
       }},
      {"SOUNDHASH_DB_PREPARED_STATEMENTS", "soundhash_prepared_statements",
       [](Config& c, std::string_view v, const std::string& w) {
         c.prepared_statements = boolean(v, w);
       }},
      {"SOUNDHASH_DB_SLOW_STATEMENT_MS", "soundhash_slow_statement_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.slow_statement_threshold = ms(v, w);
       }},
      {"SOUNDHASH_DB_SLOW_STATEMENT_LOGS_PER_SECOND",
       "soundhash_slow_statement_logs_per_second",
       [](Config& c, std::string_view v, const std::string& w) {
         c.slow_statement_logs_per_second =
             number<int>(v, w, "a positive integer");
       }},
      {"SOUNDHASH_DB_REPLICA_URL", "soundhash_replica_url",
       [](Config& c, std::string_view v, const std::string&) {
         c.replica_conninfo = v;
       }},
      {"SOUNDHASH_DB_REPLICA_POOL_SIZE", "soundhash_replica_pool_size",
       [](Config& c, std::string_view v, const std::string& w) {
         c.replica_pool_size = number<std::size_t>(v, w, "a positive integer");
       }},
      {"SOUNDHASH_DB_REPLICA_MAX_LAG_MS", "soundhash_replica_max_lag_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.replica_max_lag = ms(v, w);
       }},
      {"SOUNDHASH_DB_REPLICA_STATUS_TTL_MS", "soundhash_replica_status_ttl_ms",
       [](Config& c, std::string_view v, const std::string& w) {
         c.replica_status_ttl = ms(v, w);
       }},
  };
  return all;
}

const Setting* find_key(std::string_view key) {
  for (const auto& s : settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 &&
        hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// URI form: soundhash_* query parameters are applied and removed.
std::string take_from_uri(Config& c, const std::string& uri) {
  const auto q = uri.find('?');
  if (q == std::string::npos) return uri;
  std::string kept;
  std::string_view rest = std::string_view(uri).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view()
                                         : rest.substr(amp + 1);
    const auto eq = item.find('=');
    const std::string key = percent_decode(item.substr(0, eq));
    if (const Setting* s = find_key(key)) {
      const std::string value = eq == std::string_view::npos
                                    ? ""
                                    : percent_decode(item.substr(eq + 1));
      s->set(c, value, "conninfo " + key);
      continue;
    }
    if (!kept.empty()) kept.push_back('&');
    kept.append(item);
  }
  return uri.substr(0, q) + (kept.empty() ? "" : "?" + kept);
}

// key=value form: soundhash_* pairs are applied and removed; values may be
// single-quoted with backslash escapes, as libpq allows.
std::string take_from_pairs(Config& c, const std::string& s) {
  std::string kept;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  while (true) {
    skip_space();
    if (i >= s.size()) break;
    const std::size_t start = i;
    while (i < s.size() && s[i] != '=' &&
           !std::isspace(static_cast<unsigned char>(s[i]))) {
      ++i;
    }
    const std::string key = s.substr(start, i - start);
    skip_space();
    if (i >= s.size() || s[i] != '=') {
      // The word is not named: it may be the rest of an unquoted password.
      throw InvalidArgument(
          "conninfo: a word without \"=\" (quote a value that has spaces: "
          "key='a b')");
    }
    ++i;
    skip_space();
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      while (i < s.size() && s[i] != '\'') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i++]);
      }
      if (i >= s.size()) throw InvalidArgument("conninfo: unterminated quote");
      ++i;
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i++]);
      }
    }
    const std::string original = s.substr(start, i - start);
    if (const Setting* st = find_key(key)) {
      st->set(c, value, "conninfo " + key);
    } else {
      if (!kept.empty()) kept.push_back(' ');
      kept += original;
    }
  }
  return kept;
}

}  // namespace

Config Config::from_env() {
  Config c;
  if (const char* url = std::getenv("DATABASE_URL"); url && *url)
    c.conninfo = url;
  for (const auto& s : settings()) {
    const char* v = std::getenv(s.env);
    if (v && *v) s.set(c, v, s.env);
  }
  c.take_conninfo_settings();
  c.validate();
  return c;
}

void Config::take_conninfo_settings() {
  const bool uri = conninfo.starts_with("postgresql://") ||
                   conninfo.starts_with("postgres://");
  conninfo =
      uri ? take_from_uri(*this, conninfo) : take_from_pairs(*this, conninfo);
}

void Config::validate() const {
  if (pool_size == 0) throw InvalidArgument("Config.pool_size must be >= 1");
  if (replica_pool_size == 0)
    throw InvalidArgument("Config.replica_pool_size must be >= 1");
  if (replica_max_lag && replica_max_lag->count() < 0)
    throw InvalidArgument("Config.replica_max_lag must be >= 0");
  if (replica_status_ttl.count() < 0)
    throw InvalidArgument("Config.replica_status_ttl must be >= 0");
  if (replica_conninfo.find('\0') != std::string::npos) {
    throw InvalidArgument("Config.replica_conninfo contains a NUL byte");
  }
  if (slow_statement_threshold.count() < 0)
    throw InvalidArgument("Config.slow_statement_threshold must be >= 0");
  if (slow_statement_logs_per_second < 1)
    throw InvalidArgument("Config.slow_statement_logs_per_second must be >= 1");
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
