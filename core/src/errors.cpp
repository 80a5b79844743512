#include "soundhash/db/errors.hpp"

#include <optional>

namespace soundhash::db {
namespace {

enum class Kind {
  serialization,
  deadlock,
  lock_not_available,
  connection,
  query_canceled,
  integrity,
  data,
  programming,
};

// The one table from SQLSTATE to error class. A two-character code stands
// for its whole class. The first four kinds are the transient ones.
struct Rule {
  std::string_view code;
  Kind kind;
};
constexpr Rule kRules[] = {
    {"40001", Kind::serialization},
    {"40P01", Kind::deadlock},
    {"55P03", Kind::lock_not_available},
    {"08", Kind::connection},
    // 57P05 (idle_session_timeout) always comes as the server closes the
    // session, like 57P01-57P03.
    {"57P01", Kind::connection},
    {"57P02", Kind::connection},
    {"57P03", Kind::connection},
    {"57P05", Kind::connection},
    {"57014", Kind::query_canceled},
    {"23", Kind::integrity},
    {"22", Kind::data},
    {"42", Kind::programming},
};

std::optional<Kind> kind_of(std::string_view s) noexcept {
  if (s.size() != 5) return std::nullopt;
  for (const Rule& r : kRules) {
    if (r.code.size() == 2 ? s.starts_with(r.code) : s == r.code) return r.kind;
  }
  return std::nullopt;
}

bool is_transient(Kind k) noexcept {
  return k == Kind::serialization || k == Kind::deadlock ||
         k == Kind::lock_not_available || k == Kind::connection;
}

}  // namespace

bool is_transient_sqlstate(std::string_view s) noexcept {
  const auto k = kind_of(s);
  return k && is_transient(*k);
}

void throw_error(std::string message, Error::Fields fields) {
  const auto k = kind_of(fields.sqlstate);
  if (!k) throw Error(message, std::move(fields));
  switch (*k) {
    case Kind::serialization:
      throw SerializationError(message, std::move(fields));
    case Kind::deadlock:
      throw DeadlockError(message, std::move(fields));
    case Kind::lock_not_available:
      throw LockNotAvailableError(message, std::move(fields));
    case Kind::connection:
      throw ConnectionError(message, std::move(fields));
    case Kind::query_canceled:
      throw QueryCanceledError(message, std::move(fields));
    case Kind::integrity:
      throw IntegrityError(message, std::move(fields));
    case Kind::data:
      throw DataError(message, std::move(fields));
    case Kind::programming:
      throw ProgrammingError(message, std::move(fields));
  }
  throw Error(message, std::move(fields));
}

}  // namespace soundhash::db
