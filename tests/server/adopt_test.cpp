// Adopting a database made by SoundHash's Python layer (its models at commit
// 87a6a61, as its Alembic initial migration creates them): every row kept and
// converted, the resulting schema the same as a fresh one's, problems refused
// with nothing changed, and nothing half-applied when the adoption fails
// midway. The Python side of the mixed fleet is tests/python/.

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "soundhash/db/migrations.hpp"
#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// The Python schema as SQLAlchemy emits it for the seed's models (SERIAL
// ids, naive timestamps, FLOAT, free-text statuses), with Alembic's table.
constexpr const char* kPythonSchema = R"(
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('ce1ffb204f19');
CREATE TABLE channels (
  id SERIAL PRIMARY KEY, channel_id VARCHAR(255) NOT NULL UNIQUE,
  channel_name VARCHAR(500), description TEXT, subscriber_count INTEGER,
  video_count INTEGER, created_at TIMESTAMP WITHOUT TIME ZONE,
  updated_at TIMESTAMP WITHOUT TIME ZONE,
  last_processed TIMESTAMP WITHOUT TIME ZONE, is_active BOOLEAN);
CREATE TABLE processing_jobs (
  id SERIAL PRIMARY KEY, job_type VARCHAR(50), status VARCHAR(20),
  target_id VARCHAR(255), parameters TEXT, progress FLOAT,
  current_step VARCHAR(200), created_at TIMESTAMP WITHOUT TIME ZONE,
  started_at TIMESTAMP WITHOUT TIME ZONE,
  completed_at TIMESTAMP WITHOUT TIME ZONE, error_message TEXT,
  retry_count INTEGER, max_retries INTEGER);
CREATE INDEX idx_processing_jobs_status ON processing_jobs (status);
CREATE INDEX idx_processing_jobs_type ON processing_jobs (job_type);
CREATE TABLE videos (
  id SERIAL PRIMARY KEY, video_id VARCHAR(255) NOT NULL UNIQUE,
  channel_id INTEGER NOT NULL REFERENCES channels (id),
  title VARCHAR(1000), description TEXT, duration FLOAT, view_count INTEGER,
  like_count INTEGER, upload_date TIMESTAMP WITHOUT TIME ZONE,
  url VARCHAR(500), thumbnail_url VARCHAR(500), processed BOOLEAN,
  processing_started TIMESTAMP WITHOUT TIME ZONE,
  processing_completed TIMESTAMP WITHOUT TIME ZONE, processing_error TEXT,
  created_at TIMESTAMP WITHOUT TIME ZONE,
  updated_at TIMESTAMP WITHOUT TIME ZONE);
CREATE INDEX idx_videos_channel_id ON videos (channel_id);
CREATE INDEX idx_videos_processed ON videos (processed);
CREATE INDEX idx_videos_video_id ON videos (video_id);
CREATE TABLE audio_fingerprints (
  id SERIAL PRIMARY KEY, video_id INTEGER NOT NULL REFERENCES videos (id),
  start_time FLOAT NOT NULL, end_time FLOAT NOT NULL,
  fingerprint_hash VARCHAR(64) NOT NULL, fingerprint_data BYTEA,
  sample_rate INTEGER, segment_length FLOAT, confidence_score FLOAT,
  peak_count INTEGER, created_at TIMESTAMP WITHOUT TIME ZONE);
CREATE INDEX idx_fingerprints_hash ON audio_fingerprints (fingerprint_hash);
CREATE INDEX idx_fingerprints_time ON audio_fingerprints (start_time, end_time);
CREATE INDEX idx_fingerprints_video_id ON audio_fingerprints (video_id);
CREATE TABLE match_results (
  id SERIAL PRIMARY KEY,
  query_fingerprint_id INTEGER REFERENCES audio_fingerprints (id),
  matched_fingerprint_id INTEGER REFERENCES audio_fingerprints (id),
  similarity_score FLOAT NOT NULL, match_confidence FLOAT,
  query_source VARCHAR(50), query_url VARCHAR(1000), query_user VARCHAR(100),
  responded BOOLEAN, response_sent_at TIMESTAMP WITHOUT TIME ZONE,
  created_at TIMESTAMP WITHOUT TIME ZONE);
CREATE INDEX idx_match_results_similarity ON match_results (similarity_score);
)";

// Rows as the Python services write them: naive UTC times, progress 0-1,
// NULLs where the Python model had a default, ids with gaps, and sequences
// ahead of the highest id (rows were deleted).
constexpr const char* kPythonRows = R"(
INSERT INTO channels (id, channel_id, channel_name, subscriber_count,
                      created_at, updated_at, is_active)
VALUES (3, 'UC3', repeat('n', 480), 10, '2024-01-02 03:04:05',
        '2024-01-03 00:00:00', true),
       (7, 'UC7', NULL, NULL, '2024-02-01 12:00:00', NULL, NULL);
SELECT setval('channels_id_seq', 20);
INSERT INTO videos (id, video_id, channel_id, title, duration, processed,
                    created_at, updated_at, upload_date)
VALUES (5, repeat('v', 200), 3, repeat('t', 990), 12.5, true,
        '2024-01-02 03:04:05', '2024-01-02 03:04:05', '2023-12-31 23:00:00'),
       (6, 'vid6', 7, NULL, NULL, NULL, '2024-02-01 12:00:00', NULL, NULL);
INSERT INTO audio_fingerprints (id, video_id, start_time, end_time,
                                fingerprint_hash, fingerprint_data,
                                sample_rate, created_at)
VALUES (11, 5, 0, 1.5, 'h1', '\x00ff10', 22050, '2024-01-02 03:04:05'),
       (12, 6, 2, 3, 'h1', '\x01', NULL, NULL);
INSERT INTO match_results (id, query_fingerprint_id, matched_fingerprint_id,
                           similarity_score, query_url, responded,
                           response_sent_at, created_at)
VALUES (1, 11, 12, 0.75, repeat('u', 900), true, '2024-01-05 06:00:00',
        '2024-01-05 05:00:00'),
       (2, 12, 11, 0.5, NULL, NULL, NULL, '2024-01-05 05:00:00');
INSERT INTO processing_jobs (id, job_type, status, target_id, progress,
                             current_step, created_at, started_at,
                             retry_count, max_retries)
VALUES (1, 'video_process', 'completed', 'vid6', 1.0, repeat('s', 200),
        '2024-01-01 00:00:00', '2024-01-01 00:00:01', 0, 3),
       (2, 'video_process', 'running', 'vid5', 0.25, 'download',
        '2024-01-02 00:00:00', '2024-01-02 00:00:05', 1, 3),
       (4, 'channel_ingest', 'pending', 'UC3', NULL, NULL,
        '2024-01-03 00:00:00', NULL, NULL, NULL);
SELECT setval('processing_jobs_id_seq', 9);
)";

// The current schema's tables, columns, constraints, indexes, triggers and
// functions, one sorted line each: equal for two databases exactly when
// their schemas are.
constexpr const char* kDescribeSchema = R"(
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'column ' || c.relname || '.' || a.attname || ' '
         || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
         || ' identity ' || a.attidentity::text AS x
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                       AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
   WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'relation ' || c.relname || ' ' || c.relkind::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema()
  UNION ALL
  SELECT 'constraint ' || k.conrelid::regclass || ' ' || k.conname || ' '
         || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
   WHERE n.nspname = current_schema()
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema()
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = current_schema()
  UNION ALL
  SELECT 'schema ' || nspname FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
) s
)";

// Every row of the five tables, as text.
constexpr const char* kAllRows = R"(
SELECT concat_ws(E'\n',
  (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM channels t),
  (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM videos t),
  (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM audio_fingerprints t),
  (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM match_results t),
  (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM processing_jobs t))
)";

std::string with_dbname(const std::string& conninfo, const std::string& db) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) throw std::runtime_error(err ? err : "bad conninfo");
  std::string out;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "dbname") continue;
    out += std::string(o->keyword) + "='" + o->val + "' ";
  }
  PQconninfoFree(opts);
  return out + "dbname='" + db + "'";
}

db::Config config_for(const std::string& conninfo) {
  db::Config c = sh_test::config();
  c.conninfo = conninfo;
  return c;
}

class Adopt : public ::testing::Test {
 protected:
  void SetUp() override {
    // A server whose default time zone is not UTC: the naive times must
    // still be read as UTC.
    side_.exec(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone "
        "TO ''America/New_York''', current_database()); END $$");
    side_.exec(kPythonSchema);
    side_.exec(kPythonRows);
  }

  // A fresh connection's view (the database's defaults apply to new ones).
  std::string fresh_value(const std::string& sql) {
    sh_test::Side fresh;
    return fresh.value(sql);
  }

  sh_test::Side side_;
};

TEST_F(Adopt, KeepsEveryRowAndConvertsIt) {
  db::Database database{sh_test::config()};
  ASSERT_EQ(fresh_value("SHOW timezone"), "America/New_York");
  const auto report = db::migrate(database, {});
  EXPECT_EQ(report.found, db::SchemaKind::soundhash_python);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(report.applied, static_cast<int>(db::migrations().size()));
  EXPECT_EQ(db::schema_version(database), db::migrations().back().version);

  sh_test::Side s;
  EXPECT_EQ(s.value("SELECT string_agg(id::text, ',' ORDER BY id) FROM "
                    "channels"),
            "3,7");
  EXPECT_EQ(s.value("SELECT string_agg(id::text || ':' || video_id, ',' "
                    "ORDER BY id) FROM videos"),
            "5:" + std::string(200, 'v') + ",6:vid6");
  EXPECT_EQ(s.count("SELECT count(*) FROM audio_fingerprints"), 2);
  EXPECT_EQ(s.count("SELECT count(*) FROM match_results"), 2);
  EXPECT_EQ(s.count("SELECT count(*) FROM processing_jobs"), 3);
  // Naive times were UTC.
  EXPECT_EQ(s.value("SELECT created_at = '2024-01-02 03:04:05+00' FROM "
                    "channels WHERE id = 3"),
            "t");
  EXPECT_EQ(s.value("SELECT response_sent_at = '2024-01-05 06:00:00+00' "
                    "AND responded FROM match_results WHERE id = 1"),
            "t");
  // NULLs where the Python model had a default get that default.
  EXPECT_EQ(s.value("SELECT is_active::text || ' ' || (updated_at = "
                    "created_at)::text FROM channels WHERE id = 7"),
            "true true");
  EXPECT_EQ(s.value("SELECT NOT processed FROM videos WHERE id = 6"), "t");
  EXPECT_EQ(s.value("SELECT NOT responded FROM match_results WHERE id = 2"),
            "t");
  EXPECT_EQ(s.value("SELECT encode(fingerprint_data, 'hex') FROM "
                    "audio_fingerprints WHERE id = 11"),
            "00ff10");
  // Progress is a percentage; jobs are queue entries.
  EXPECT_EQ(s.value("SELECT string_agg(id || ':' || progress || ':' || "
                    "retry_count || ':' || max_retries, ',' ORDER BY id) "
                    "FROM processing_jobs"),
            "1:100:0:3,2:25:1:3,4:0:0:3");
  EXPECT_EQ(s.value("SELECT heartbeat_at = started_at AND run_at = "
                    "created_at FROM processing_jobs WHERE id = 2"),
            "t");
  // Identities continue after the old sequences.
  EXPECT_EQ(s.value("INSERT INTO channels (channel_id) VALUES ('UC-new') "
                    "RETURNING id"),
            "21");
  EXPECT_EQ(s.value("INSERT INTO processing_jobs (job_type, target_id) "
                    "VALUES ('t', 'x') RETURNING id"),
            "10");
  EXPECT_EQ(s.value("SELECT to_regclass('channels_id_seq')::text"),
            "channels_id_seq")
      << "the identity's own sequence, not the Python one";
  // Alembic's table stays; new sessions default to UTC.
  EXPECT_EQ(s.value("SELECT version_num FROM alembic_version"), "ce1ffb204f19");
  EXPECT_EQ(fresh_value("SHOW timezone"), "UTC");
  EXPECT_EQ(db::migrate(database), 0) << "an adopted database is ours";
}

TEST_F(Adopt, TheRowsReadThroughTheRepositories) {
  db::Database database{sh_test::config()};
  db::migrate(database);
  auto s = database.session();
  db::VideoRepository videos{s};
  db::JobRepository jobs{s};
  auto ch = videos.get_channel_by_id("UC3");
  ASSERT_TRUE(ch.has_value());
  EXPECT_EQ(ch->id, 3);
  EXPECT_EQ(ch->channel_name, std::string(480, 'n'));
  EXPECT_EQ(
      ch->created_at,
      std::chrono::sys_days{std::chrono::January / 2 / 2024} + 3h + 4min + 5s);
  auto v = videos.get_video_by_id(std::string(200, 'v'));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->channel_id, 3);
  auto top = videos.get_top_matches(11, 10);
  ASSERT_EQ(top.size(), 1U);
  EXPECT_EQ(top[0].matched_fingerprint_id, 12);
  auto [job, created] = jobs.create_job_if_not_exists("video_process", "vid5");
  EXPECT_FALSE(created) << "the adopted running job counts";
  EXPECT_EQ(job.id, 2);
}

TEST_F(Adopt, TheSchemaIsTheSameAsAFreshOne) {
  db::Database database{sh_test::config()};
  db::migrate(database);
  const std::string dbname = "sh_adopt_fresh_" + std::to_string(getpid());
  sh_test::Side admin{sh_test::admin_conninfo()};
  admin.exec("DROP DATABASE IF EXISTS " + dbname);
  admin.exec("CREATE DATABASE " + dbname);
  std::string fresh_schema;
  {
    const auto conninfo = with_dbname(sh_test::admin_conninfo(), dbname);
    db::Database fresh{config_for(conninfo)};
    EXPECT_EQ(db::migrate(fresh, {}).found, db::SchemaKind::empty);
    sh_test::Side f{conninfo};
    f.exec(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY "
        "KEY)");
    fresh_schema = f.value(kDescribeSchema);
  }
  admin.exec("DROP DATABASE " + dbname + " WITH (FORCE)");
  EXPECT_EQ(side_.value(kDescribeSchema), fresh_schema);
}

TEST_F(Adopt, DryRunReportsAndChangesNothing) {
  side_.exec(
      "INSERT INTO processing_jobs (job_type, target_id, status) "
      "VALUES ('channel_ingest', 'UC3', 'pending'), ('x', 'y', "
      "'queued'), ('x', 'z', NULL)");
  side_.exec("UPDATE match_results SET similarity_score = 1.5 WHERE id = 2");
  const auto before = side_.value(kDescribeSchema) + side_.value(kAllRows);
  db::Database database{sh_test::config()};
  db::MigrateOptions dry;
  dry.dry_run = true;
  const auto report = db::migrate(database, dry);
  EXPECT_EQ(report.found, db::SchemaKind::soundhash_python);
  EXPECT_EQ(report.applied, 0);
  EXPECT_EQ(report.to_version, db::migrations().back().version);
  std::string all;
  for (const auto& p : report.problems) all += p + "\n";
  EXPECT_NE(all.find("unknown status 'queued': 1 row(s)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("unknown status NULL: 1 row(s)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("similarity_score or match_confidence outside 0..1: 1 "
                     "row(s), ids {2}"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("duplicate active jobs for type=channel_ingest "
                     "target=UC3: ids {10,4}"),
            std::string::npos)
      << all;
  EXPECT_FALSE(report.plan.empty());
  EXPECT_EQ(side_.value(kDescribeSchema) + side_.value(kAllRows), before);

  // Without the dry run: refused, listing the same, and nothing changed.
  try {
    db::migrate(database);
    ADD_FAILURE() << "adopted a database with problems";
  } catch (const db::AdoptionRefused& e) {
    EXPECT_EQ(e.problems(), report.problems);
  }
  EXPECT_EQ(side_.value(kDescribeSchema) + side_.value(kAllRows), before);
  EXPECT_EQ(fresh_value("SHOW timezone"), "America/New_York");
}

TEST_F(Adopt, DuplicateActiveJobsKeepTheNewestWhenAsked) {
  side_.exec(
      "INSERT INTO processing_jobs (id, job_type, target_id, status, "
      "created_at) VALUES (5, 'video_process', 'vid5', 'pending', "
      "'2024-01-04'), (6, 'video_process', 'vid5', 'running', "
      "'2024-01-05')");
  db::Database database{sh_test::config()};
  EXPECT_THROW(db::migrate(database), db::AdoptionRefused);
  db::MigrateOptions keep;
  keep.duplicate_jobs = db::DuplicateJobs::keep_newest;
  db::migrate(database, keep);
  sh_test::Side s;
  EXPECT_EQ(s.value("SELECT string_agg(id || ':' || status, ',' ORDER BY id) "
                    "FROM processing_jobs WHERE target_id = 'vid5'"),
            "2:cancelled,5:cancelled,6:running");
  EXPECT_EQ(s.value("SELECT error_message FROM processing_jobs WHERE id = 2"),
            "cancelled when adopted by soundhash-db: a duplicate of active "
            "job 6");
}

// A failure at any point of the adoption leaves the Python database as it
// was: the schema, every row, the database's time zone. An event trigger
// makes one DDL command of the adoption fail: a function created by a
// migration (after the tables were moved aside), and the final DROP TABLE
// (after every row was copied).
TEST_F(Adopt, AFailureMidwayLeavesNothingChanged) {
  side_.exec(R"(
CREATE FUNCTION inject_failure() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure at %', tg_tag; END $$)");
  const auto before = side_.value(kDescribeSchema) + side_.value(kAllRows);
  db::Database database{sh_test::config()};
  for (const char* tag : {"CREATE FUNCTION", "DROP TABLE"}) {
    side_.exec(std::string("CREATE EVENT TRIGGER inject ON ddl_command_start "
                           "WHEN TAG IN ('") +
               tag + "') EXECUTE FUNCTION inject_failure()");
    try {
      db::migrate(database);
      ADD_FAILURE() << "no failure injected at " << tag;
    } catch (const db::Error& e) {
      EXPECT_NE(std::string(e.what()).find("injected failure at"),
                std::string::npos)
          << e.what();
    }
    side_.exec("DROP EVENT TRIGGER inject");
    EXPECT_EQ(side_.value(kDescribeSchema) + side_.value(kAllRows), before)
        << tag;
    EXPECT_EQ(fresh_value("SHOW timezone"), "America/New_York") << tag;
  }
  EXPECT_EQ(db::migrate(database, {}).found, db::SchemaKind::soundhash_python);
  EXPECT_EQ(side_.count("SELECT count(*) FROM processing_jobs"), 3);
}

TEST_F(Adopt, DependentObjectsAreRefusedNotDropped) {
  side_.exec(
      "CREATE VIEW busy AS SELECT * FROM processing_jobs WHERE "
      "status = 'running'");
  db::Database database{sh_test::config()};
  try {
    db::migrate(database);
    ADD_FAILURE() << "adopted tables a view depends on";
  } catch (const db::AdoptionRefused& e) {
    ASSERT_EQ(e.problems().size(), 1U);
    EXPECT_NE(e.problems()[0].find("view busy"), std::string::npos)
        << e.problems()[0];
  }
  EXPECT_EQ(side_.value("SELECT to_regclass('busy') IS NOT NULL"), "t");
}

// Neither empty, nor ours, nor the Python layer's: refused, nothing changed.
TEST(AdoptRefuses, TablesOfOurNamesInAnotherShape) {
  sh_test::Side side;
  side.exec("CREATE TABLE channels (id uuid PRIMARY KEY, name text)");
  db::Database database{sh_test::config()};
  try {
    db::migrate(database);
    ADD_FAILURE() << "migrated over a foreign channels table";
  } catch (const db::UnrecognizedSchema& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("neither empty, nor migrated by soundhash-db, nor "
                        "SoundHash's Python schema"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("channels lacks channel_id"), std::string::npos)
        << what;
    EXPECT_NE(what.find("no table videos"), std::string::npos) << what;
  }
  EXPECT_EQ(side.value("SELECT to_regclass('soundhash_schema_migrations') IS "
                       "NULL AND to_regclass('videos') IS NULL"),
            "t");
  db::MigrateOptions dry;
  dry.dry_run = true;
  EXPECT_THROW(db::migrate(database, dry), db::UnrecognizedSchema);
}

// Unrelated tables beside SoundHash's are not SoundHash's business.
TEST(AdoptRefuses, NotUnrelatedTables) {
  sh_test::Side side;
  side.exec("CREATE TABLE invoices (id int)");
  db::Database database{sh_test::config()};
  EXPECT_EQ(db::migrate(database, {}).found, db::SchemaKind::empty);
}

}  // namespace
