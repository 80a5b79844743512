// SoundHash's schema migrations: the files of domain/schema, compiled into
// the library (see domain/CMakeLists.txt) so nothing is installed beside it.
// Append new migrations; never edit one that has shipped, as databases that
// applied it will not apply it again.

#include "soundhash/db/migrations.hpp"

#include "schema_migrations.hpp"  // generated from domain/schema/*.sql

namespace soundhash::db {

std::span<const Migration> migrations() noexcept {
  return detail::kSchemaMigrations;
}

}  // namespace soundhash::db
