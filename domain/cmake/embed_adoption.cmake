# Writes OUTPUT, a C++ header holding the adoption scripts of ADOPT_DIR
# (set_aside.sql, copy_back.sql) as raw strings, as embed_schema.cmake does
# for the migrations. Run by the build (cmake -DADOPT_DIR=... -DOUTPUT=...
# -P this file).

set(delimiter "shdb_adopt")
set(entries "")
foreach(part IN ITEMS set_aside copy_back)
  file(READ "${ADOPT_DIR}/${part}.sql" sql)
  string(FIND "${sql}" ")${delimiter}\"" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${ADOPT_DIR}/${part}.sql holds `)${delimiter}\"`")
  endif()
  if(part STREQUAL "set_aside")
    set(name "kAdoptSetAside")
  else()
    set(name "kAdoptCopyBack")
  endif()
  string(APPEND entries
    "inline constexpr std::string_view ${name} = R\"${delimiter}(${sql})${delimiter}\";\n\n")
endforeach()

file(WRITE "${OUTPUT}" "// Generated from domain/schema/adopt/*.sql by domain/cmake/embed_adoption.cmake.
// Edit the .sql files, not this one.
#pragma once

#include <string_view>

namespace soundhash::db::detail {

${entries}}  // namespace soundhash::db::detail
")
