#include "context.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/database.hpp"

namespace soundhash::cli {
namespace {

constexpr OptionSpec kGlobalOptions[] = {
    {"--database", "", "URL",
     "connection string (URI or key=value); overrides DATABASE_URL"},
    {"--connect-timeout", "", "SECONDS",
     "give up connecting after SECONDS (default 10; 0 waits forever)"},
    {"--verbose", "-v", "", "show the library's log (retries, migrations)"},
};

// One retry (after the policy's first delay) rides out a blip; the
// library's default of three spends 3.5 s before saying the server is down.
constexpr int kCliMaxRetries = 1;

bool is_uri(std::string_view conninfo) {
  return conninfo.starts_with("postgresql://") ||
         conninfo.starts_with("postgres://");
}

// libpq prints server NOTICEs straight to stderr (the library installs no
// notice receiver), e.g. migrate()'s "relation ... already exists,
// skipping". Ask the server not to send them, through PGOPTIONS because
// the library builds the connection parameters itself; a conninfo with its
// own `options` takes precedence, as does a PGOPTIONS that sets it.
void quiet_notices() {
  const char* existing = std::getenv("PGOPTIONS");
  std::string options = existing ? existing : "";
  if (options.find("client_min_messages") != std::string::npos) return;
  if (!options.empty()) options += ' ';
  options += "-c client_min_messages=warning";
  setenv("PGOPTIONS", options.c_str(), 1);
}

}  // namespace

std::span<const OptionSpec> global_options() { return kGlobalOptions; }

Globals read_globals(const ParsedArgs& args, Globals base) {
  if (auto v = args.value("--database")) base.database = *v;
  if (auto v = args.value("--connect-timeout")) {
    // libpq takes a 32-bit int; a day is more than anyone means.
    base.connect_timeout_s =
        static_cast<int>(parse_integer(*v, "--connect-timeout", 0, 86400));
  }
  if (args.flag("--verbose")) base.verbose = true;
  return base;
}

std::string with_connect_timeout(const std::string& conninfo, int seconds) {
  const std::string value = std::to_string(seconds);
  if (is_uri(conninfo)) {
    const char sep = conninfo.find('?') == std::string::npos ? '?' : '&';
    return conninfo + sep + "connect_timeout=" + value;
  }
  // key=value: a later keyword wins, and an empty conninfo still works.
  return conninfo + (conninfo.empty() ? "" : " ") + "connect_timeout=" + value;
}

Context make_context(const Globals& globals) {
  Context ctx{db::Config::from_env(), {}};
  if (globals.database) ctx.configured.conninfo = *globals.database;
  ctx.effective = ctx.configured;
  if (globals.connect_timeout_s) {
    ctx.effective.conninfo = with_connect_timeout(ctx.effective.conninfo,
                                                  *globals.connect_timeout_s);
  }
  // An explicit SOUNDHASH_DB_MAX_RETRIES is the user's choice; keep it
  // (from_env treats an empty value as unset, and so do we).
  const char* retries = std::getenv("SOUNDHASH_DB_MAX_RETRIES");
  if (retries == nullptr || *retries == '\0') {
    ctx.effective.retry.max_retries = kCliMaxRetries;
  }
  ctx.effective.validate();
  return ctx;
}

void setup_logging(bool verbose) {
  if (!verbose) quiet_notices();
  auto logger = std::make_shared<spdlog::logger>(
      "soundhash.db", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("soundhash-db: [%l] %v");
  logger->set_level(verbose ? spdlog::level::info : spdlog::level::off);
  spdlog::register_logger(logger);
}

std::vector<db::ReplicaStatus> look_at_replicas(const db::Config& effective) {
  if (effective.replica_conninfo.empty()) return {};
  db::Config c = effective;
  if (c.replica_conninfo.find("connect_timeout") == std::string::npos) {
    c.replica_conninfo = with_connect_timeout(c.replica_conninfo, 5);
  }
  db::Database database{c};
  return database.replica_status();
}

}  // namespace soundhash::cli
