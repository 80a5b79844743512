#pragma once
// A migrated database per test, with a Database on it.
#include <gtest/gtest.h>

#include "test_db.hpp"

namespace sh_test {

class RepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    soundhash::db::migrate(database);
    clear_sleeps();
  }
  void TearDown() override {
    const auto s = database.pool_stats();
    EXPECT_EQ(s.in_use, 0u) << "a connection was not given back";
  }
  /// A committed channel + video to hang things on.
  std::pair<std::int64_t, std::int64_t> seed_video(
      const std::string& vid = "vid1") {
    auto repo = soundhash::db::video_repository(database);
    auto ch = repo->get_channel_by_id("UC_seed");
    const auto channel =
        ch ? ch->id : repo->create_channel("UC_seed", "Seed").id;
    const auto video = repo->create_video(vid, channel, "Title").id;
    return {channel, video};
  }

  soundhash::db::Database database{config()};
  Side side;
};

}  // namespace sh_test
