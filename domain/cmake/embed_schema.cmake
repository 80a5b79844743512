# Writes OUTPUT, a C++ header holding every migration of SCHEMA_DIR
# (NNNN_name.sql, versions 1, 2, 3, ... without gaps) as a raw string, so the
# library carries its schema with nothing to install beside it. The name
# recorded for a migration is its file name's, underscores read as spaces.
# Run by the build (cmake -DSCHEMA_DIR=... -DOUTPUT=... -P this file).

# The raw strings' delimiter; a file holding `)<delimiter>"` would end its
# string early, so such a file fails the build.
set(delimiter "shdb_schema")

file(GLOB files RELATIVE "${SCHEMA_DIR}" "${SCHEMA_DIR}/*.sql")
list(SORT files)
set(entries "")
set(expected 1)
foreach(file IN LISTS files)
  if(NOT file MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_-]+)\\.sql$")
    message(FATAL_ERROR "${SCHEMA_DIR}/${file}: a migration is named "
      "NNNN_words_of_its_name.sql (lower case, digits, '_' and '-')")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  string(REPLACE "_" " " name "${CMAKE_MATCH_2}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "${SCHEMA_DIR}/${file}: expected migration "
      "${expected} next; versions start at 1 and have no gaps or repeats")
  endif()
  math(EXPR expected "${expected} + 1")
  file(READ "${SCHEMA_DIR}/${file}" sql)
  string(FIND "${sql}" ")${delimiter}\"" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${SCHEMA_DIR}/${file} holds `)${delimiter}\"`, "
      "which would end its raw string literal; change the delimiter in "
      "${CMAKE_CURRENT_LIST_FILE}")
  endif()
  string(APPEND entries
    "    {${version}, \"${name}\", R\"${delimiter}(${sql})${delimiter}\"},\n")
endforeach()
if(expected EQUAL 1)
  message(FATAL_ERROR "${SCHEMA_DIR}: no migrations (*.sql)")
endif()

set(text "// Generated from domain/schema/*.sql by domain/cmake/embed_schema.cmake.
// Edit the .sql files, not this one.
#pragma once

#include \"soundhash/db/migrations.hpp\"

namespace soundhash::db::detail {

inline constexpr Migration kSchemaMigrations[] = {
${entries}};

}  // namespace soundhash::db::detail
")
file(WRITE "${OUTPUT}" "${text}")
