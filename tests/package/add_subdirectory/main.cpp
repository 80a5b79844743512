// A consumer that builds soundhash-db with add_subdirectory: connect from
// DATABASE_URL, apply the schema, then one unit of work through a Session.
// Exits 0 on success.
#include <cstdint>
#include <cstdio>
#include <soundhash/db.hpp>

namespace db = soundhash::db;

int main() try {
  db::Database database{db::Config::from_env()};
  db::migrate(database);

  std::int64_t jobs = 0;
  {
    auto s = database.session();
    db::JobRepository{s}.create_job("package_test", "add_subdirectory");
    jobs =
        s.execute("SELECT count(*) FROM processing_jobs WHERE target_id = $1",
                  "add_subdirectory")
            .as<std::int64_t>();
  }  // COMMIT

  std::printf("soundhash_db consumer: schema version %d, %lld job(s)\n",
              db::schema_version(database), static_cast<long long>(jobs));
  return jobs == 1 ? 0 : 1;
} catch (const db::Error& e) {
  std::fprintf(stderr, "soundhash_db consumer: %s\n", e.what());
  return 1;
}
