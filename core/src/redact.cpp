// Passwords out of what is shown: conninfo strings and libpq's messages
// about them, redacted from libpq's own parse of the conninfo (a pattern
// would miss what libpq accepts, e.g. '?' or an escaped space in a password).
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "soundhash/db/config.hpp"
#include "soundhash/db/detail/connection.hpp"

namespace soundhash::db::detail {
namespace {

// libpq's own test for a connection string: a URI, or anything with '='; any
// other text is a bare database name.
bool is_uri(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

// The options `conninfo` sets, as libpq parses them (nullopt if it cannot).
std::optional<std::vector<std::pair<std::string, std::string>>> parse(
    std::string_view conninfo) {
  const std::string s(conninfo);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(s.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> set;
  for (auto* o = opts; o->keyword; ++o) {
    if (o->val) set.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(opts);
  return set;
}

std::string uri_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string kv_quote(std::string_view s) {
  const bool plain = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == '\'' || c == '\\' ||
           std::isspace(static_cast<unsigned char>(c));
  });
  if (plain) return std::string(s);
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

std::string as_pairs(
    const std::vector<std::pair<std::string, std::string>>& set) {
  std::string out;
  for (const auto& [key, value] : set) {
    if (!out.empty()) out.push_back(' ');
    out += key + "=" + (key == "password" ? "***" : kv_quote(value));
  }
  return out;
}

std::string as_uri(
    const std::vector<std::pair<std::string, std::string>>& set) {
  const std::string* user = nullptr;
  const std::string* host = nullptr;
  const std::string* port = nullptr;
  const std::string* dbname = nullptr;
  bool password = false;
  for (const auto& [key, value] : set) {
    if (key == "user") user = &value;
    if (key == "host") host = &value;
    if (key == "port") port = &value;
    if (key == "dbname") dbname = &value;
    if (key == "password") password = true;
  }
  std::string out = "postgresql://";
  if (user || password) {
    if (user) out += uri_encode(*user);
    if (password) out += ":***";
    out += '@';
  }
  // Host lists go to the query, where they need no pairing with ports.
  const bool in_netloc = (!host || host->find(',') == std::string::npos) &&
                         (!port || port->find(',') == std::string::npos);
  if (in_netloc && host) {
    out += host->find(':') == std::string::npos ? uri_encode(*host)
                                                : "[" + *host + "]";
  }
  if (in_netloc && port) out += ":" + uri_encode(*port);
  if (dbname) out += "/" + uri_encode(*dbname);
  char sep = '?';
  for (const auto& [key, value] : set) {
    if (key == "user" || key == "password" || key == "dbname") continue;
    if (in_netloc && (key == "host" || key == "port")) continue;
    out += sep + key + "=" + uri_encode(value);
    sep = '&';
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Where in `s` from `at` a spelling of `secret` ends (raw bytes, %XX in
// either case, backslash escapes, in any mix), or npos.
std::size_t match_secret(std::string_view s, std::size_t at,
                         std::string_view secret) {
  if (secret.empty()) return at;
  if (at >= s.size()) return std::string_view::npos;
  const char want = secret.front();
  const auto rest = secret.substr(1);
  if (s[at] == '%' && at + 2 < s.size() && hex_value(s[at + 1]) >= 0 &&
      hex_value(s[at + 2]) >= 0 &&
      static_cast<char>(hex_value(s[at + 1]) * 16 + hex_value(s[at + 2])) ==
          want) {
    if (auto end = match_secret(s, at + 3, rest); end != s.npos) return end;
  }
  if (s[at] == '\\' && at + 1 < s.size() && s[at + 1] == want) {
    if (auto end = match_secret(s, at + 2, rest); end != s.npos) return end;
  }
  if (s[at] == want) return match_secret(s, at + 1, rest);
  return std::string_view::npos;
}

// `s` with every spelling of `secret` replaced by ***.
std::string scrub(std::string_view s, std::string_view secret) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (const auto end = match_secret(s, i, secret); end != s.npos) {
      out += "***";
      i = end;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// libpq's complaints about a conninfo it cannot parse quote the offending
// token, which may be a piece of a password: all but the fixed
// punctuation of its messages is hidden.
std::string mask_quoted(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out.push_back(s[i]);
    if (s[i] != '"') continue;
    const auto close = s.find('"', i + 1);
    const auto inner =
        s.substr(i + 1, close == s.npos ? s.npos : close - i - 1);
    out += (inner == "=" || inner == ":" || inner == "/" || inner == "]")
               ? std::string(inner)
               : std::string("***");
    if (close == s.npos) break;
    out.push_back('"');
    i = close;
  }
  return out;
}

}  // namespace

std::string redact_message(std::string_view message,
                           std::string_view conninfo) {
  if (!is_uri(conninfo) && conninfo.find('=') == std::string_view::npos) {
    return std::string(message);  // no password in it
  }
  const auto set = parse(conninfo);
  if (!set) return mask_quoted(message);
  for (const auto& [key, value] : *set) {
    if (key == "password" && !value.empty()) return scrub(message, value);
  }
  return std::string(message);
}

}  // namespace soundhash::db::detail

namespace soundhash::db {

std::string redact_conninfo(std::string_view conninfo) {
  using detail::is_uri;
  if (!is_uri(conninfo) && conninfo.find('=') == std::string_view::npos) {
    return std::string(conninfo);  // empty, or a bare database name
  }
  const auto set = detail::parse(conninfo);
  if (!set) return "<unparsable conninfo>";
  return is_uri(conninfo) ? detail::as_uri(*set) : detail::as_pairs(*set);
}

}  // namespace soundhash::db
