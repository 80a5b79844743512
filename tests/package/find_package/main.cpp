// The smallest real user of soundhash-db: connect from DATABASE_URL, apply
// the schema, create a job idempotently (twice: the second call must find the
// first job). Exits 0 on success. Also compiled by the pkg-config test.
#include <cstdio>
#include <soundhash/db.hpp>
#include <string_view>

namespace db = soundhash::db;

#ifdef SOUNDHASH_DB_PACKAGE_VERSION
// The installed version.hpp and the installed package version file agree.
#define SH_STR2(x) #x
#define SH_STR(x) SH_STR2(x)
static_assert(
    std::string_view{SOUNDHASH_DB_PACKAGE_VERSION} ==
    SH_STR(SOUNDHASH_DB_VERSION_MAJOR) "." SH_STR(
        SOUNDHASH_DB_VERSION_MINOR) "." SH_STR(SOUNDHASH_DB_VERSION_PATCH));
#endif

int main() try {
  db::Database database{db::Config::from_env()};
  const int applied = db::migrate(database);

  auto create = [&database] {
    return database.transact([](db::Session& s) {
      return db::JobRepository{s}.create_job_if_not_exists("package_test",
                                                           "consumer");
    });
  };
  const auto [first, first_created] = create();
  const auto [second, second_created] = create();

  std::printf(
      "soundhash_db consumer: %d migrations applied; job %lld %s, "
      "then %s\n",
      applied, static_cast<long long>(first.id),
      first_created ? "created" : "found",
      second_created ? "created again" : "found again");
  return first_created && !second_created && first.id == second.id ? 0 : 1;
} catch (const db::Error& e) {
  std::fprintf(stderr, "soundhash_db consumer: %s\n", e.what());
  return 1;
}
