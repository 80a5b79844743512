// TLS (issue "Reliability", item 15): the library's connections are plain
// libpq conninfo, so `sslmode=verify-full sslrootcert=...` is all it takes.
// Each test runs a private server with ssl = on and a throwaway CA
// (tests/support/pg-server, SOUNDHASH_PG_TLS=1). The server's certificate
// names `localhost` only (CN and subjectAltName DNS:localhost, no IP entry),
// so host=localhost verifies and host=127.0.0.1 is a name mismatch.
#include <gtest/gtest.h>

#include <string>

#include "test_db.hpp"

namespace db = soundhash::db;

namespace {

// Not a real secret (the server trusts everyone): a marker that must never
// appear in an error message or a log line.
constexpr const char* kPassword = "tls-test-Secret-Pw-7f3a";

std::string tls_conninfo(const sh_test::PrivateServer& server,
                         const std::string& host, const std::string& sslmode,
                         const std::string& rootcert) {
  return "host=" + host + " port=" + std::to_string(server.port()) +
         " user=postgres dbname=postgres sslmode=" + sslmode +
         " sslrootcert='" + rootcert + "'";
}

db::Config tls_config(const std::string& conninfo, int max_retries = 3) {
  db::Config c;
  c.conninfo = conninfo;
  c.pool_size = 2;
  c.acquire_timeout = std::chrono::seconds(30);
  c.retry.max_retries = max_retries;
  c.retry.sleeper = [](std::chrono::nanoseconds) {};
  return c;
}

// Connects once through the library and returns the ConnectionError it must
// refuse with (fails the test if it connects or throws anything else).
db::ConnectionError refusal(const std::string& conninfo) {
  db::Database database{tls_config(conninfo, /*max_retries=*/0)};
  try {
    database.transact([](db::Session& s) { s.execute("SELECT 1"); });
  } catch (const db::ConnectionError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ConnectionError, got: " << e.what();
    throw;
  }
  ADD_FAILURE() << "connected although it must be refused: " << conninfo;
  throw std::runtime_error("no refusal");
}

// The refusal is a clear, single-cause sentence that names the server and
// gives no secret away.
void expect_clear_refusal(const db::ConnectionError& e,
                          const std::string& reason) {
  const std::string what = e.what();
  ASSERT_FALSE(what.empty());
  EXPECT_EQ(e.sqlstate(), "08001") << what;
  EXPECT_EQ(what.rfind("could not connect to \"", 0), 0u) << what;
  EXPECT_NE(what.find(reason), std::string::npos) << what;
  EXPECT_NE(what.find("password=***"), std::string::npos) << what;
  EXPECT_EQ(what.find(kPassword), std::string::npos) << what;
  EXPECT_EQ(what.find("PRIVATE KEY"), std::string::npos) << what;
  EXPECT_NE(what.back(), '\n') << what;
}

}  // namespace

// verify-full against the right CA and the certificate's own name: the
// library connects, runs real work, and every session is encrypted.
TEST(Tls, VerifyFullConnectsAndIsEncrypted) {
  sh_test::PrivateServer server(/*tls=*/true);
  db::Database database{tls_config(
      tls_conninfo(server, "localhost", "verify-full", server.ca_file()))};

  EXPECT_GT(db::migrate(database), 0);
  const auto [job, created] = database.transact([](db::Session& s) {
    db::JobRepository jobs{s};
    return jobs.create_job_if_not_exists("tls_test", "over-tls");
  });
  EXPECT_TRUE(created);
  EXPECT_EQ(job.target_id, "over-tls");

  database.transact([](db::Session& s) {
    const auto row = s.execute(
                          "SELECT ssl, version, cipher FROM pg_stat_ssl "
                          "WHERE pid = pg_backend_pid()")
                         .one();
    EXPECT_TRUE(row[0].as<bool>());
    const auto version = row[1].as<std::string>();
    EXPECT_TRUE(version == "TLSv1.2" || version == "TLSv1.3") << version;
    EXPECT_FALSE(row[2].as<std::string>().empty());
    db::JobRepository jobs{s};
    EXPECT_TRUE(jobs.job_exists("tls_test", "over-tls"));
  });

  // From outside (the unix socket): every backend the library opened is on
  // TLS, and the check can tell (the observer's own session is not).
  sh_test::Side side(server.conninfo());
  EXPECT_EQ(side.value("SELECT ssl FROM pg_stat_ssl "
                       "WHERE pid = pg_backend_pid()"),
            "f");
  EXPECT_GT(side.count("SELECT count(*) FROM pg_stat_activity a "
                       "JOIN pg_stat_ssl USING (pid) "
                       "WHERE a.application_name = 'soundhash-db' AND ssl"),
            0);
  EXPECT_EQ(side.count("SELECT count(*) FROM pg_stat_activity a "
                       "JOIN pg_stat_ssl USING (pid) "
                       "WHERE a.application_name = 'soundhash-db' AND NOT ssl"),
            0);
}

// A CA that did not sign the server's certificate: refused, clearly, at
// once (max_retries = 0), and no secret in the message or the log.
TEST(Tls, WrongCaIsRefused) {
  sh_test::PrivateServer server(/*tls=*/true);
  sh_test::LogCapture log;
  const auto e = refusal(
      tls_conninfo(server, "localhost", "verify-full", server.wrong_ca_file()) +
      " password=" + kPassword);
  expect_clear_refusal(e, "certificate verify failed");
  for (const auto& line : log.lines()) {
    EXPECT_EQ(line.find(kPassword), std::string::npos) << line;
  }
}

// The right CA, but a host name the certificate does not carry (it names
// DNS:localhost only; 127.0.0.1 is the same server by address): verify-full
// refuses. verify-ca, which checks only the chain, accepts the same server,
// so the name is the only reason.
TEST(Tls, HostNameMismatchIsRefusedUnderVerifyFull) {
  sh_test::PrivateServer server(/*tls=*/true);
  const auto e = refusal(
      tls_conninfo(server, "127.0.0.1", "verify-full", server.ca_file()) +
      " password=" + kPassword);
  expect_clear_refusal(e, "does not match host name \"127.0.0.1\"");

  db::Database chain_only{tls_config(
      tls_conninfo(server, "127.0.0.1", "verify-ca", server.ca_file()), 0)};
  chain_only.transact([](db::Session& s) {
    EXPECT_TRUE(s.execute("SELECT ssl FROM pg_stat_ssl "
                          "WHERE pid = pg_backend_pid()")
                    .as<bool>());
  });
}
