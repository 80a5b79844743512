// session.hpp is a public header: it must not bring in the connection layer
// (detail/connection.hpp) or libpq, and a Database::transact unit is not a
// Kind of its own (issue 16). Checked at compile time in a translation unit
// that includes session.hpp alone.
#include <gtest/gtest.h>

#include <type_traits>

#include "soundhash/db/session.hpp"

namespace {

template <class T>
concept Complete = requires {
  sizeof(T);
};

static_assert(!Complete<soundhash::db::detail::Connection>,
              "session.hpp must only forward-declare detail::Connection");
#ifdef LIBPQ_FE_H
#error "session.hpp must not include libpq-fe.h"
#endif

using Session = soundhash::db::Session;
static_assert(!std::is_copy_constructible_v<Session>);
static_assert(!std::is_move_constructible_v<Session>);

// The entry points are named for their purpose; the mechanism-named ones
// left (run(detail::Statement) and the transact unit's Kind).
template <class S>
concept HasPurposeNamedEntryPoints = requires(S& s) {
  s.execute("SELECT 1");
  s.read("SELECT 1");
  s.execute_final("SELECT 1");
  s.ensure("SELECT 1");
  s.execute_script("SELECT 1");
  s.copy_in("COPY t FROM STDIN", "");
};
template <class S>
concept HasRun = requires {
  &S::run;
};
template <class S>
concept HasManagedKind = requires {
  S::Kind::managed;
};

static_assert(HasPurposeNamedEntryPoints<Session>);
static_assert(!HasRun<Session>);
static_assert(!HasManagedKind<Session>);

}  // namespace

TEST(SessionHeader, CompilesAloneWithoutTheConnectionLayer) {
  // The checks are the static_asserts above; reaching here means they held.
  SUCCEED();
}
