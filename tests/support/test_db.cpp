#include "test_db.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sh_test {
namespace {

std::string read_server_file() {
  if (const char* url = std::getenv("SOUNDHASH_TEST_DATABASE_URL");
      url && *url) {
    return url;
  }
  const char* file = std::getenv("SOUNDHASH_TEST_SERVER_FILE");
  if (!file || !*file) {
    throw std::runtime_error(
        "no test server: run the tests through ctest (which starts one) or "
        "set SOUNDHASH_TEST_DATABASE_URL");
  }
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line) || line.empty()) {
    throw std::runtime_error(std::string("no test server: ") + file +
                             " is missing; did the pg_start fixture run?");
  }
  return line;
}

// Rebuilds `conninfo` as key=value pairs with dbname replaced.
std::string with_dbname(const std::string& conninfo, const std::string& db) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "bad conninfo";
    PQfreemem(err);
    throw std::runtime_error(msg);
  }
  std::string out;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "dbname") continue;
    std::string v = o->val;
    std::string quoted;
    for (char c : v) {
      if (c == '\'' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    out += std::string(o->keyword) + "='" + quoted + "' ";
  }
  PQconninfoFree(opts);
  return out + "dbname='" + db + "'";
}

struct State {
  std::mutex mutex;
  std::string admin;
  std::string dbname;
  std::string conninfo;
  std::vector<std::chrono::nanoseconds> sleeps;
};

State& state() {
  static State s;
  return s;
}

class DropDatabase : public ::testing::Environment {
 public:
  void TearDown() override {
    auto& s = state();
    if (s.dbname.empty() || getpid() != owner_) return;
    try {
      Side admin(s.admin);
      admin.exec("DROP DATABASE IF EXISTS \"" + s.dbname + "\" WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: could not drop %s: %s\n", s.dbname.c_str(),
                   e.what());
    }
  }
  pid_t owner_ = getpid();
};

[[maybe_unused]] const auto* const registered =
    ::testing::AddGlobalTestEnvironment(new DropDatabase);

}  // namespace

std::string admin_conninfo() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (s.admin.empty()) s.admin = read_server_file();
  return s.admin;
}

std::string conninfo() {
  const std::string admin = admin_conninfo();
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (s.conninfo.empty()) {
    std::random_device rd;
    s.dbname = "sh_test_" + std::to_string(getpid()) + "_" +
               std::to_string(rd() % 1000000);
    Side a(admin);
    a.exec("CREATE DATABASE \"" + s.dbname + "\"");
    s.conninfo = with_dbname(admin, s.dbname);
  }
  return s.conninfo;
}

bool prepared_statements() {
  const char* v = std::getenv("SOUNDHASH_TEST_PREPARED_STATEMENTS");
  return !(v && std::string_view(v) == "0");
}

soundhash::db::Config config(bool real_sleep) {
  soundhash::db::Config c;
  c.conninfo = conninfo();
  c.pool_size = 4;
  c.acquire_timeout = std::chrono::seconds(10);
  if (!prepared_statements()) c.prepared_statements = false;
  if (!real_sleep) {
    c.retry.sleeper = [](std::chrono::nanoseconds d) {
      auto& s = state();
      std::lock_guard lock(s.mutex);
      s.sleeps.push_back(d);
    };
  }
  return c;
}

std::vector<std::chrono::nanoseconds> sleeps() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  return s.sleeps;
}

void clear_sleeps() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.sleeps.clear();
}

Side::Side(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("side connection failed: " + msg);
  }
}

Side::~Side() { PQfinish(conn_); }

void Side::exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const auto st = PQresultStatus(r);
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw std::runtime_error("side exec failed: " + err + " in: " + sql);
  }
}

std::string Side::value(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("side query failed: " + err + " in: " + sql);
  }
  std::string v =
      (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return v;
}

void Side::terminate(int pid) {
  const auto p = std::to_string(pid);
  if (value("SELECT pg_terminate_backend(" + p + ")") != "t") {
    throw std::runtime_error("pg_terminate_backend(" + p + ") failed");
  }
  wait_gone(pid, std::chrono::seconds(5));
}

void Side::wait_gone(int pid, std::chrono::milliseconds timeout) {
  const auto p = std::to_string(pid);
  const auto q = "SELECT count(*) FROM pg_stat_activity WHERE pid = " + p;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count(q) != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("backend " + p + " did not exit");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct LogCapture::Impl : spdlog::sinks::base_sink<std::mutex> {
  std::vector<std::string> lines;
  void sink_it_(const spdlog::details::log_msg& m) override {
    lines.push_back(std::string(spdlog::level::to_string_view(m.level).data(),
                                spdlog::level::to_string_view(m.level).size()) +
                    "|" + std::string(m.payload.data(), m.payload.size()));
  }
  void flush_() override {}
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex_);
    return lines;
  }
};

LogCapture::LogCapture() : impl_(std::make_shared<Impl>()) {
  auto& l = soundhash::db::logger();
  l.sinks().push_back(impl_);
  l.set_level(spdlog::level::trace);
}

LogCapture::~LogCapture() {
  auto& sinks = soundhash::db::logger().sinks();
  std::erase(sinks, impl_);
}

std::vector<std::string> LogCapture::lines() const { return impl_->snapshot(); }

bool LogCapture::contains(std::string_view needle) const {
  for (const auto& l : lines()) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace sh_test

namespace sh_test {

PrivateServer::PrivateServer(bool tls, const PrivateServer* standby_of)
    : tls_(tls) {
  char tmpl[] = "/tmp/sh-private-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  state_ = tmpl;
  if (standby_of) {
    run("standby", standby_of->state_);
  } else {
    run("start");
  }
  try {
    std::ifstream in(state_ + "/conninfo");
    std::getline(in, conninfo_);
    if (conninfo_.empty())
      throw std::runtime_error("private server: no conninfo");
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
    if (!opts) {
      std::string msg = err ? err : "bad conninfo";
      PQfreemem(err);
      throw std::runtime_error("private server: " + msg);
    }
    for (auto* o = opts; o->keyword; ++o) {
      if (o->val && std::string_view(o->keyword) == "port") {
        port_ = std::atoi(o->val);
      }
    }
    PQconninfoFree(opts);
    if (port_ <= 0)
      throw std::runtime_error("private server: no port in its conninfo");
  } catch (...) {
    // The destructor will not run: do not leave the server behind.
    try {
      run("stop");
    } catch (...) {
    }
    std::filesystem::remove_all(state_);
    throw;
  }
}

PrivateServer::~PrivateServer() {
  try {
    run("stop");
  } catch (...) {
  }
  std::filesystem::remove_all(state_);
}

void PrivateServer::run(const char* cmd, const std::string& extra) {
  const char* script = std::getenv("SOUNDHASH_PG_SERVER");
  if (!script || !*script) script = SOUNDHASH_PG_SERVER_SCRIPT;
  // The private server must not take over the shared one's external URL.
  // TLS only when asked for, whatever the environment says.
  const std::string line =
      std::string("env -u SOUNDHASH_TEST_DATABASE_URL ") +
      (tls_ ? "SOUNDHASH_PG_TLS=1 '" : "-u SOUNDHASH_PG_TLS '") + script +
      "' " + cmd + " '" + state_ + "'" +
      (extra.empty() ? std::string() : " '" + extra + "'") + " >/dev/null";
  if (std::system(line.c_str()) != 0) {
    throw std::runtime_error(std::string("pg-server ") + cmd + " failed");
  }
}

}  // namespace sh_test
