#include "soundhash/db/errors.hpp"

namespace soundhash::db {

bool is_transient_sqlstate(std::string_view s) noexcept {
  if (s.size() != 5) return false;
  return s == "40001" || s == "40P01" || s == "55P03" || s.starts_with("08") ||
         s == "57P01" || s == "57P02" || s == "57P03" || s == "57P05";
}

void throw_error(std::string message, Error::Fields fields) {
  const std::string_view s = fields.sqlstate;
  if (s == "40001") throw SerializationError(message, std::move(fields));
  if (s == "40P01") throw DeadlockError(message, std::move(fields));
  if (s == "55P03") throw LockNotAvailableError(message, std::move(fields));
  // 57P05 (idle_session_timeout) always comes as the server closes the
  // session, like 57P01-57P03.
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03" ||
      s == "57P05") {
    throw ConnectionError(message, std::move(fields));
  }
  if (s == "57014") throw QueryCanceledError(message, std::move(fields));
  if (s.starts_with("23")) throw IntegrityError(message, std::move(fields));
  if (s.starts_with("22")) throw DataError(message, std::move(fields));
  if (s.starts_with("42")) throw ProgrammingError(message, std::move(fields));
  throw Error(message, std::move(fields));
}

}  // namespace soundhash::db
