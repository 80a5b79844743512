// Security: every value is bound, never spliced (hostile strings through
// every public method come back verbatim and harm nothing), oversized and
// malformed values get typed errors, and passwords never reach logs or
// exception messages.
#include <cctype>
#include <cmath>

#include "../server/repo_fixture.hpp"

namespace db = soundhash::db;
using namespace std::string_literals;

namespace {

const std::vector<std::string>& hostile() {
  static const std::vector<std::string> all = {
      "'; DROP TABLE channels; --",
      "Robert'); DELETE FROM videos;--",
      "x' OR '1'='1",
      "/* c */ \" \\ \\\\ \t\n\r",
      "$1 $2 $$ $tag$ :name ? %s {}",
      "E'\\x41' || chr(65)",
      "ünï©ødé ✓ 🎵",
      "\\",
  };
  return all;
}

class Security : public sh_test::RepoTest {};

}  // namespace

TEST_F(Security, HostileStringsAreStoredVerbatimThroughEveryMethod) {
  int n = 0;
  for (const auto& h : hostile()) {
    SCOPED_TRACE(h);
    const std::string key = std::to_string(n++) + h;  // unique, still hostile
    auto s = database.session();
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};

    const auto ch = videos.create_channel(key, h, {.description = h});
    const auto got_ch = videos.get_channel_by_id(key);
    ASSERT_TRUE(got_ch);
    EXPECT_EQ(got_ch->channel_id, key);
    EXPECT_EQ(got_ch->channel_name, h);
    EXPECT_EQ(got_ch->description, h);

    const auto v = videos.create_video(key, ch.id, h, h,
                                       {.description = h, .thumbnail_url = h});
    const auto got_v = videos.get_video_by_id(key);
    ASSERT_TRUE(got_v);
    EXPECT_EQ(got_v->title, h);
    EXPECT_EQ(got_v->url, h);
    EXPECT_EQ(got_v->thumbnail_url, h);
    EXPECT_TRUE(videos.mark_video_processed(v.id, false, h));
    EXPECT_EQ(videos.get_video_by_id(key)->processing_error, h);

    db::NewFingerprint f;
    f.video_id = v.id;
    f.end_time = 1;
    f.fingerprint_hash = key.substr(0, 64);
    f.fingerprint_data = db::Bytes(8, std::byte{'\''});
    const auto fp = videos.create_fingerprint(f);
    videos.create_fingerprints_batch(std::vector<db::NewFingerprint>(3, f));
    const auto matches = videos.find_matching_fingerprints(f.fingerprint_hash);
    EXPECT_EQ(matches.size(), 4u);
    for (const auto& m : matches)
      EXPECT_EQ(m.fingerprint_hash, f.fingerprint_hash);

    db::NewMatchResult m;
    m.query_fingerprint_id = fp.id;
    m.matched_fingerprint_id = fp.id;
    m.similarity_score = 0.5;
    m.query_source = h.substr(0, 50);
    m.query_url = h;
    m.query_user = h;
    videos.create_match_result(m);
    videos.create_match_results_batch(std::vector<db::NewMatchResult>(2, m));
    const auto top = videos.get_top_matches(fp.id, 10);
    ASSERT_EQ(top.size(), 3u);
    for (const auto& t : top) {
      EXPECT_EQ(t.query_url, h);
      EXPECT_EQ(t.query_user, h);
    }

    const std::string type = h.substr(0, 50);
    const auto job = jobs.create_job(type, key, h);
    EXPECT_EQ(job.parameters, h);
    EXPECT_TRUE(jobs.job_exists(type, key));
    EXPECT_FALSE(jobs.create_job_if_not_exists(type, key, h).second);
    EXPECT_EQ(jobs.jobs_exist_batch(type, {key, h + "x"}),
              (std::map<std::string, bool>{{key, true}, {h + "x", false}}));
    EXPECT_EQ(jobs.get_jobs_by_target(key, type).size(), 1u);
    EXPECT_EQ(jobs.get_pending_jobs(type, 5).size(), 1u);
    EXPECT_EQ(jobs.count_jobs_by_status(type).at("pending"), 1);
    const std::string worker = h.substr(0, 255);
    auto claimed = jobs.claim_next_job({type}, worker);
    ASSERT_TRUE(claimed);
    EXPECT_EQ(claimed->locked_by, worker);
    jobs.heartbeat(claimed->id, worker, 5.0, h.substr(0, 255));
    const auto failed = jobs.fail_job(claimed->id, worker, h, {{}, {}, 1.0});
    EXPECT_EQ(failed.error_message, h);
    EXPECT_EQ(failed.status, "pending");
    claimed = jobs.claim_jobs({type, h.substr(0, 50) + "x"}, worker, 3).at(0);
    jobs.complete_job(claimed->id, worker);
    EXPECT_EQ(jobs.complete_jobs({claimed->id}, worker).size(), 0u);
    EXPECT_FALSE(jobs.complete_job_and_claim_next(claimed->id, worker, {type}));
    EXPECT_THROW(jobs.heartbeat(claimed->id, h.substr(0, 254) + "x"),
                 db::JobNotOwned);
    const auto upd = jobs.update_job_status(claimed->id, "failed", 50.0,
                                            h.substr(0, 255), h);
    EXPECT_EQ(upd->current_step, h.substr(0, 255));
    EXPECT_EQ(upd->error_message, h);

    EXPECT_EQ(s.execute("SELECT $1::text", h).as<std::string>(), h);
    EXPECT_EQ(s.read("SELECT $1::text", h).as<std::string>(), h);
  }
  // Nothing was dropped or deleted by any of it.
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"),
            static_cast<long long>(hostile().size()));
  EXPECT_EQ(side.count("SELECT count(*) FROM videos"),
            static_cast<long long>(hostile().size()));
}

TEST_F(Security, OneMegabyteValues) {
  const std::string mb(1 << 20, 'm');
  auto repo = db::video_repository(database);
  // Unbounded text columns take it and give it back whole.
  const auto ch =
      repo->create_channel("UC_big", std::nullopt, {.description = mb});
  EXPECT_EQ(repo->get_channel_by_id("UC_big")->description, mb);
  const auto v = repo->create_video("v_big", ch.id);
  EXPECT_TRUE(repo->mark_video_processed(v.id, false, mb));
  EXPECT_EQ(repo->get_video_by_id("v_big")->processing_error, mb);
  // Bounded columns refuse it with a typed error, and the session goes on.
  try {
    repo->create_channel(mb);
    FAIL();
  } catch (const db::DataError& e) {
    EXPECT_EQ(e.sqlstate(), "22001");
    EXPECT_LT(std::string(e.what()).size(), 1000u) << "the value is not echoed";
  }
  EXPECT_THROW(repo->create_video("v2", ch.id, mb), db::DataError);
  auto jobs = db::job_repository(database);
  EXPECT_EQ(jobs->create_job("t", "big", mb).parameters, mb);
}

TEST_F(Security, PasswordsNeverReachLogsOrErrors) {
  sh_test::LogCapture log;
  for (const std::string& conninfo :
       {"host=127.0.0.1 port=1 user=u password=hunter2 connect_timeout=2"s,
        "postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2"s,
        "postgresql://u@127.0.0.1:1/db?password=hunter2&connect_timeout=2"s}) {
    db::Config c;
    c.conninfo = conninfo;
    c.retry.max_retries = 1;
    c.retry.sleeper = [](std::chrono::nanoseconds) {};
    db::Database bad(c);
    try {
      auto repo = db::video_repository(bad);
      repo->get_video_by_id("x");
      FAIL();
    } catch (const db::ConnectionError& e) {
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos)
          << e.what();
    }
  }
  // A working connection whose conninfo carries a password (trust auth
  // ignores it): failures it logs do not show the password either.
  db::Config c = sh_test::config();
  c.conninfo += " password=hunter2";
  db::Database good(c);
  EXPECT_THROW(good.session().execute("SELECT * FROM no_such_table"),
               db::ProgrammingError);
  EXPECT_FALSE(log.lines().empty());
  for (const auto& line : log.lines()) {
    EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  }
}

namespace {

// `s` with every byte outside [A-Za-z0-9] percent-encoded, or only those a
// URI's userinfo cannot hold raw ('@', '/', '%').
std::string percent(std::string_view s, bool all) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((all && !std::isalnum(c)) || c == '@' || c == '/' || c == '%') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string test_server_port() {
  PQconninfoOption* opts =
      PQconninfoParse(sh_test::admin_conninfo().c_str(), nullptr);
  std::string port = "5432";
  for (auto* o = opts; o && o->keyword; ++o) {
    if (std::string_view(o->keyword) == "port" && o->val) port = o->val;
  }
  PQconninfoFree(opts);
  return port;
}

}  // namespace

TEST_F(Security, PasswordsFullOfQuotingCharactersNeverReachLogsOrErrors) {
  // Every character that URIs and key=value quoting treat specially; "Pw"
  // and "x9" mark its ends, so a fragment that leaks is seen too.
  const std::string pw = "Pw?@:/#%&=' \\ x9";
  std::string kv_quoted = "'";
  for (char ch : pw) {
    if (ch == '\'' || ch == '\\') kv_quoted += '\\';
    kv_quoted += ch;
  }
  kv_quoted += "'";
  std::string kv_escaped;  // unquoted, with backslash escapes
  for (char ch : pw) {
    if (ch == '\'' || ch == '\\' || ch == ' ') kv_escaped += '\\';
    kv_escaped += ch;
  }
  const std::string host = "127.0.0.1:" + test_server_port();
  // The test server trusts everyone, so a database that does not exist
  // makes the server itself refuse the connection.
  const std::vector<std::string> conninfos = {
      "host=127.0.0.1 port=" + test_server_port() +
          " dbname=no_such_db user=u password=" + kv_quoted,
      "host=127.0.0.1 port=" + test_server_port() +
          " dbname=no_such_db user=u password=" + kv_escaped,
      "postgresql://u:" + percent(pw, false) + "@" + host + "/no_such_db",
      "postgresql://u:" + percent(pw, true) + "@" + host + "/no_such_db",
      "postgresql://u@" + host + "/no_such_db?password=" + percent(pw, true),
      // Refused by libpq's own parser, whose message quotes the token.
      "postgresql://u:Pw%zz x9@" + host + "/no_such_db",
      "host=127.0.0.1 password=Pw x9",
  };
  sh_test::LogCapture log;
  for (const auto& conninfo : conninfos) {
    db::Config c;
    c.conninfo = conninfo;
    c.retry.max_retries = 1;
    c.retry.sleeper = [](std::chrono::nanoseconds) {};
    try {
      db::Database bad(c);  // may refuse a conninfo it cannot read
      bad.session().execute("SELECT 1");
      ADD_FAILURE() << "connected with " << conninfo;
    } catch (const db::Error& e) {
      EXPECT_TRUE(dynamic_cast<const db::ConnectionError*>(&e) ||
                  dynamic_cast<const db::InvalidArgument*>(&e))
          << e.what();
      const std::string what = e.what();
      for (const std::string& secret :
           {pw, percent(pw, true), std::string("Pw"), std::string("x9")}) {
        EXPECT_EQ(what.find(secret), std::string::npos) << what;
      }
    }
  }
  ASSERT_FALSE(log.lines().empty());
  bool warned = false;
  for (const auto& line : log.lines()) {
    warned = warned || line.find("Transient database error") != line.npos;
    for (const std::string& secret :
         {pw, percent(pw, true), std::string("Pw"), std::string("x9")}) {
      EXPECT_EQ(line.find(secret), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(warned) << "the retries were logged";
}
