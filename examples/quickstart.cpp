// Quickstart: a Database, a unit of work that commits at scope exit, and a
// whole-unit retry with transact. Reads DATABASE_URL (libpq's PG* defaults
// when unset).
#include <cstdio>
#include <soundhash/db.hpp>

namespace db = soundhash::db;

int main() try {
  db::Database database{db::Config::from_env()};
  database.migrate();

  {
    auto s = database.session();
    s.execute(
        "INSERT INTO channels (channel_id, channel_name) VALUES ($1, $2) "
        "ON CONFLICT (channel_id) DO NOTHING",
        "UC_quickstart", "Quickstart channel");
  }  // COMMIT here

  const auto n = database.transact([](db::Session& s) {
    return s.execute("SELECT count(*) FROM channels").one()[0].as<long long>();
  });
  std::printf("channels: %lld\n", n);
  return 0;
} catch (const db::Error& e) {
  std::fprintf(stderr, "database error: %s\n", e.what());
  return 1;
}
