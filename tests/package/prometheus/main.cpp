// The smallest real user of the installed exporter: observe a Database from
// DATABASE_URL, run one statement, and find it counted in what Collect()
// gives a scraper. Exits 0 on success.
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <memory>
#include <soundhash/db.hpp>
#include <soundhash/db/prometheus.hpp>
#include <string>

namespace db = soundhash::db;

int main() try {
  auto metrics = std::make_shared<db::PrometheusMetrics>();
  db::Config config = db::Config::from_env();
  config.observer = metrics;
  db::Database database{config};
  metrics->watch(database);
  const int one = database.transact(
      [](db::Session& s) { return s.read("SELECT 1").as<int>(); });

  const std::string text =
      prometheus::TextSerializer{}.Serialize(metrics->Collect());
  const bool counted =
      one == 1 &&
      text.find("soundhash_db_operations_total{") != std::string::npos &&
      text.find("soundhash_db_units_total{") != std::string::npos;
  std::printf("soundhash_db prometheus consumer: %zu bytes of metrics, %s\n",
              text.size(),
              counted ? "the unit counted" : "the unit not counted");
  return counted ? 0 : 1;
} catch (const db::Error& e) {
  std::fprintf(stderr, "soundhash_db prometheus consumer: %s\n", e.what());
  return 1;
}
