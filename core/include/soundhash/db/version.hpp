#pragma once
/// @file
/// The library's version, the one place it is written: CMake reads the three
/// numbers below for `project(VERSION)`, the package version file and
/// soundhash_db.pc.

// Major, minor and patch; major is 0 while the API may still change.
#define SOUNDHASH_DB_VERSION_MAJOR 0
#define SOUNDHASH_DB_VERSION_MINOR 1
#define SOUNDHASH_DB_VERSION_PATCH 0

/// The version as one number, `major * 10000 + minor * 100 + patch` (as
/// FMT_VERSION), for `#if SOUNDHASH_DB_VERSION >= 200` and the like.
#define SOUNDHASH_DB_VERSION                                               \
  (SOUNDHASH_DB_VERSION_MAJOR * 10000 + SOUNDHASH_DB_VERSION_MINOR * 100 + \
   SOUNDHASH_DB_VERSION_PATCH)
