// version.hpp is the one place the version is written; CMake reads it. These
// check that the two agree and that SOUNDHASH_DB_VERSION is built like
// FMT_VERSION.
#include <gtest/gtest.h>

#include <soundhash/db.hpp>
#include <string>

// The umbrella header brings the version too.
static_assert(SOUNDHASH_DB_VERSION == SOUNDHASH_DB_VERSION_MAJOR * 10000 +
                                          SOUNDHASH_DB_VERSION_MINOR * 100 +
                                          SOUNDHASH_DB_VERSION_PATCH);
// Two digits each for minor and patch, or the number is ambiguous.
static_assert(SOUNDHASH_DB_VERSION_MINOR < 100 &&
              SOUNDHASH_DB_VERSION_PATCH < 100);

TEST(Version, TheHeaderIsTheVersionCMakeConfigured) {
  EXPECT_EQ(std::to_string(SOUNDHASH_DB_VERSION_MAJOR) + "." +
                std::to_string(SOUNDHASH_DB_VERSION_MINOR) + "." +
                std::to_string(SOUNDHASH_DB_VERSION_PATCH),
            SOUNDHASH_DB_CMAKE_VERSION);
}
