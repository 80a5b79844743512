// Every SQL statement of the domain, checked against the migrated schema: a
// misspelt table or column fails here rather than in a deployment. The
// statements are listed in domain/src/sql/catalog.hpp; the domain's sources
// are searched too, so that a statement left out of the catalog, or written
// outside a `R"sql(` literal, fails as well.

#include "sql/catalog.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "test_db.hpp"

namespace db = soundhash::db;
namespace sql = soundhash::db::detail::sql;

namespace {

using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

std::string first_word(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
    ++i;
  }
  std::size_t j = i;
  while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) {
    ++j;
  }
  return std::string(text.substr(i, j - i));
}

void exec(PGconn* conn, const char* command) {
  PgResult r{PQexec(conn, command), &PQclear};
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw std::runtime_error(std::string(command) + ": " +
                             PQresultErrorMessage(r.get()));
  }
}

// Empty if `statement` is valid on the connection's schema, else the server's
// error. Queries are prepared (parsed, resolved and type-checked, not run);
// PREPARE takes neither COPY nor DDL, so a COPY is started and aborted
// before any data, and DDL runs; all inside a transaction rolled back.
std::string check(PGconn* conn, std::string_view statement) {
  const std::string text(statement);
  const std::string kind = first_word(text);
  exec(conn, "BEGIN");
  std::string error;
  if (kind == "COPY") {
    PgResult r{PQexec(conn, text.c_str()), &PQclear};
    if (PQresultStatus(r.get()) == PGRES_COPY_IN) {
      PQputCopyEnd(conn, "statement check: no data");
      while (PGresult* rest = PQgetResult(conn)) PQclear(rest);
    } else {
      error = PQresultErrorMessage(r.get());
    }
  } else {
    PgResult r{kind == "CREATE" ? PQexec(conn, text.c_str())
                                : PQprepare(conn, "", text.c_str(), 0, nullptr),
               &PQclear};
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      error = PQresultErrorMessage(r.get());
    }
  }
  exec(conn, "ROLLBACK");
  return error;
}

// A database with the bundled migrations applied, and a raw connection to it.
class Statements : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db::Database database{sh_test::config()};
    db::migrate(database);
  }
  sh_test::Side side_;
};

TEST_F(Statements, EveryStatementIsValidOnTheMigratedSchema) {
  for (const auto& s : sql::kCatalog) {
    EXPECT_EQ(check(side_.raw(), s.text), "") << s.name << ":" << s.text;
  }
}

// The check itself: each statement with one of its schema's column names
// misspelt (the first one outside a string literal) must fail it. DDL is
// left out: CREATE ... IF NOT EXISTS of an existing table checks nothing.
TEST_F(Statements, TheCheckFailsEveryStatementWithAMisspeltColumn) {
  // The schema's columns, and the system catalogs' that the statements
  // recognising a database (sql/adopt.hpp) read.
  std::set<std::string> columns;
  {
    PgResult r{PQexec(side_.raw(),
                      "SELECT DISTINCT column_name::text FROM "
                      "information_schema.columns WHERE table_schema = "
                      "'public' OR (table_schema = 'pg_catalog' AND "
                      "table_name IN ('pg_class', 'pg_attribute', "
                      "'pg_namespace', 'pg_depend'))"),
               &PQclear};
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      columns.insert(PQgetvalue(r.get(), i, 0));
    }
  }
  // Identifiers and string literals; the literals are matched so as to be
  // skipped.
  const std::regex token(R"('(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*)");
  int mutated = 0;
  for (const auto& s : sql::kCatalog) {
    const std::string text(s.text);
    if (first_word(text) == "CREATE") continue;
    for (std::sregex_iterator it(text.begin(), text.end(), token), end;
         it != end; ++it) {
      if (!columns.contains(it->str())) continue;
      const auto at = static_cast<std::size_t>(it->position());
      std::string typo = text;
      typo.insert(at + it->str().size(), "_typo");
      EXPECT_NE(check(side_.raw(), typo), "")
          << s.name << ": misspelt " << it->str() << ":" << typo;
      ++mutated;
      break;
    }
  }
  // All but the few that name no column (two locks, function calls).
  EXPECT_GE(mutated, static_cast<int>(std::size(sql::kCatalog)) - 6);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Whether a string literal starting at `text[quote]` (a '"') holds SQL: its
// first word, past a raw string's delimiter, is an SQL command.
bool starts_sql(const std::string& text, std::size_t quote) {
  std::size_t i = quote + 1;
  if (quote > 0 && text[quote - 1] == 'R') {
    const auto open = text.find('(', i);
    if (open == std::string::npos || open - i > 16) return false;
    i = open + 1;
  }
  static const std::set<std::string> commands{
      "SELECT", "INSERT", "UPDATE", "DELETE", "WITH",  "COPY",
      "CREATE", "ALTER",  "DROP",   "MERGE",  "VALUES"};
  return commands.contains(first_word(std::string_view(text).substr(i)));
}

// Every statement under domain/src is a `R"sql(` literal, and every such
// literal is in the catalog, once.
TEST(StatementCatalog, HoldsEveryStatementOfTheDomainSources) {
  std::set<std::string_view> names;
  std::set<std::string_view> texts;
  for (const auto& s : sql::kCatalog) {
    EXPECT_TRUE(names.insert(s.name).second) << "name twice: " << s.name;
    EXPECT_TRUE(texts.insert(s.text).second) << "text twice: " << s.name;
  }
  constexpr std::string_view kOpen = "R\"sql(";
  constexpr std::string_view kClose = ")sql\"";
  std::size_t literals = 0;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           SOUNDHASH_DOMAIN_SRC_DIR)) {
    const auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    files.push_back(entry.path().string());
    const std::string text = read_file(entry.path());
    for (auto at = text.find('"'); at != std::string::npos;
         at = text.find('"', at + 1)) {
      if (at > 0 && text.compare(at - 1, kOpen.size(), kOpen) == 0) {
        const auto begin = at - 1 + kOpen.size();
        const auto end = text.find(kClose, begin);
        ASSERT_NE(end, std::string::npos) << entry.path();
        EXPECT_TRUE(texts.contains(text.substr(begin, end - begin)))
            << entry.path() << ": a statement missing from sql/catalog.hpp:"
            << text.substr(begin, end - begin);
        ++literals;
        at = end + kClose.size() - 1;
      } else if (starts_sql(text, at)) {
        ADD_FAILURE() << entry.path() << ": SQL outside a R\"sql( literal: "
                      << text.substr(at, 60);
      }
    }
  }
  EXPECT_FALSE(files.empty()) << SOUNDHASH_DOMAIN_SRC_DIR;
  EXPECT_EQ(literals, std::size(sql::kCatalog))
      << "each catalog entry is one R\"sql( literal under domain/src";
}

}  // namespace
