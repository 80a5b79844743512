# Installs the build tree BUILD_DIR into a fresh PREFIX and fails if anything
# was installed: with SOUNDHASH_DB_INSTALL off, soundhash-db as a subproject
# must add no install rules to its parent.
#
#   cmake -DBUILD_DIR=... -DPREFIX=... -P installs-nothing.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(
  COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (${rc})")
endif()
file(GLOB_RECURSE installed LIST_DIRECTORIES false "${PREFIX}/*")
if(installed)
  list(JOIN installed "\n  " installed)
  message(FATAL_ERROR "a subproject installed files:\n  ${installed}")
endif()
message(STATUS "nothing installed from ${BUILD_DIR}")
