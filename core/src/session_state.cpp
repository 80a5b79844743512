// Session state a pooled connection must not carry to its next user, and
// connections a forked child must leave to its parent.
#include "soundhash/db/detail/session_state.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>

#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db::detail {
namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool ident_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool ident_char(char c) noexcept {
  return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

// `word` (any case) equals `keyword` (lower case).
bool is(std::string_view word, std::string_view keyword) noexcept {
  return word.size() == keyword.size() &&
         std::equal(word.begin(), word.end(), keyword.begin(),
                    [](char a, char b) { return lower(a) == b; });
}

// `text` at `at` starts with `needle` (lower case), in any case.
bool starts_with_at(std::string_view text, std::size_t at,
                    std::string_view needle) noexcept {
  return text.size() - at >= needle.size() &&
         is(text.substr(at, needle.size()), needle);
}

void raise(StateChange& s, Cleanup c) noexcept {
  s.cleanup = std::max(s.cleanup, c);
}

// Function names that change session state, found anywhere in the text
// (strings too: dynamic SQL in a DO block counts). The _xact_ lock variants
// end with their transaction and do not match these prefixes.
void scan_function_names(std::string_view sql, StateChange& s) noexcept {
  for (std::size_t i = 0; i < sql.size(); ++i) {
    switch (lower(sql[i])) {
      case 's':
        if (starts_with_at(sql, i, "set_config")) raise(s, Cleanup::reset);
        break;
      case 'p':
        if (starts_with_at(sql, i, "pg_advisory_lock") ||
            starts_with_at(sql, i, "pg_try_advisory_lock") ||
            starts_with_at(sql, i, "pg_temp")) {
          raise(s, Cleanup::reset);
        }
        break;
      case 'd':
        if (starts_with_at(sql, i, "dblink_connect")) raise(s, Cleanup::close);
        break;
      default:
        break;
    }
  }
}

// What one statement's keywords say, fed one word at a time (words outside
// strings, quoted identifiers and comments).
struct StatementWords {
  int n = 0;  // words seen so far in this statement
  bool set = false, create = false, discard = false, into = false;

  void word(std::string_view w, StateChange& s) noexcept {
    if (n == 0) {
      set = is(w, "set");
      create = is(w, "create");
      discard = is(w, "discard");
      if (is(w, "reset") || is(w, "listen") || is(w, "declare") ||
          is(w, "do")) {
        raise(s, Cleanup::reset);
      } else if (is(w, "prepare")) {
        raise(s, Cleanup::discard_all);
      } else if (is(w, "deallocate")) {
        raise(s, Cleanup::discard_all);
        s.forgets_prepared = true;
      } else if (is(w, "load")) {
        raise(s, Cleanup::close);
      }
    } else if (n == 1 && set && !is(w, "local") && !is(w, "transaction") &&
               !is(w, "constraints")) {
      raise(s, Cleanup::reset);  // SET x, SET SESSION, SET ROLE, ...
    } else if (n == 1 && discard) {
      // DISCARD TEMP, SEQUENCES and PLANS keep prepared statements (the
      // pool's own reset sends the first two); anything else counts as ALL.
      if (is(w, "temp") || is(w, "temporary") || is(w, "sequences") ||
          is(w, "plans")) {
        raise(s, Cleanup::reset);
      } else {
        raise(s, Cleanup::discard_all);
        s.forgets_prepared = true;
      }
    }
    const bool temp = is(w, "temp") || is(w, "temporary");
    if (temp && (create || into)) raise(s, Cleanup::reset);  // a temp table
    into = is(w, "into");
    ++n;
  }
};

// Length of a dollar-quote opening tag ($$ or $name$) at `at`, or 0.
std::size_t dollar_tag(std::string_view sql, std::size_t at) noexcept {
  std::size_t j = at + 1;
  if (j < sql.size() && ident_start(sql[j])) {
    while (j < sql.size() && ident_char(sql[j]) && sql[j] != '$') ++j;
  }
  return (j < sql.size() && sql[j] == '$') ? j - at + 1 : 0;
}

std::atomic<int> cached_pid{0};

void refresh_pid() noexcept {
  cached_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
}

}  // namespace

StateChange classify_sql(std::string_view sql) noexcept {
  StateChange s;
  scan_function_names(sql, s);
  StatementWords words;
  const std::size_t n = sql.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = sql[i];
    if (c == ';') {
      words = {};
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      int depth = 0;  // block comments nest
      do {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (i < n && depth > 0);
    } else if (c == '\'' || c == '"') {
      // E'...' takes backslash escapes; a doubled quote is one quote.
      const bool escapes = c == '\'' && i > 0 && lower(sql[i - 1]) == 'e' &&
                           (i == 1 || !ident_char(sql[i - 2]));
      for (++i; i < n; ++i) {
        if (escapes && sql[i] == '\\') {
          ++i;
        } else if (sql[i] == c) {
          if (i + 1 < n && sql[i + 1] == c) {
            ++i;
          } else {
            break;
          }
        }
      }
      ++i;
    } else if (c == '$' && dollar_tag(sql, i) > 0) {
      const std::size_t len = dollar_tag(sql, i);
      const auto end = sql.find(sql.substr(i, len), i + len);
      i = end == std::string_view::npos ? n : end + len;
    } else if (ident_start(c)) {
      const std::size_t start = i;
      while (i < n && ident_char(sql[i])) ++i;
      // E'...': the quote belongs to this word's string, not a new word.
      if (i - start == 1 && lower(c) == 'e' && i < n && sql[i] == '\'') {
        continue;
      }
      words.word(sql.substr(start, i - start), s);
    } else {
      ++i;
    }
  }
  return s;
}

int current_pid() noexcept {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, refresh_pid);
    refresh_pid();
    return true;
  }();
  (void)registered;
  return cached_pid.load(std::memory_order_relaxed);
}

void Connection::note(StateChange change) noexcept {
  cleanup_ = std::max(cleanup_, change.cleanup);
  // Names are never reused (prepared_serial_), so statements the server may
  // still hold cannot clash with new ones; DISCARD ALL drops them later.
  if (change.forgets_prepared) prepared_.clear();
}

bool Connection::clean_up() noexcept {
  if (cleanup_ == Cleanup::none) return true;
  if (cleanup_ == Cleanup::close || broken()) return false;
  try {
    if (cleanup_ == Cleanup::discard_all) {
      // Also deallocates the cached statements; may not share its query
      // string with others (it refuses to run in a transaction block).
      prepared_.clear();
      exec_script("DISCARD ALL");
    } else {
      // DISCARD ALL less DEALLOCATE ALL, so the prepared statements stay
      // warm. RESET ALL goes first: a statement_timeout the user set applies
      // to each statement here until it is reset.
      exec_script(
          "RESET ALL; SET SESSION AUTHORIZATION DEFAULT; CLOSE ALL; "
          "UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; "
          "DISCARD SEQUENCES");
    }
  } catch (const std::exception& e) {
    logger().warn(
        "could not reset a connection's session state; closing it: {}",
        e.what());
    return false;
  }
  cleanup_ = Cleanup::none;
  return !broken() && tx_status() == TxStatus::idle;
}

bool Connection::detach_socket() noexcept {
  // The descriptor is shared with the process that opened the connection:
  // PQfinish would send the server a Terminate on it and end that process's
  // session. With /dev/null in the socket's place, PQfinish frees the
  // connection and closes our copy while its goodbye goes nowhere.
  const int fd = PQsocket(conn_);
  if (fd < 0) return true;
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return false;
  const bool ok = ::dup2(null_fd, fd) == fd;
  ::close(null_fd);
  return ok;
}

}  // namespace soundhash::db::detail
