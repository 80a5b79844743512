// The core's LISTEN/NOTIFY facility, against the real server.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using Event = db::Listener::Event;

namespace {

// The backend of the listener whose LISTEN statement starts with `sql`.
int listener_pid(sh_test::Side& side, const std::string& sql) {
  return static_cast<int>(
      side.count("SELECT pid FROM pg_stat_activity WHERE query LIKE '" + sql +
                 "%' AND datname = current_database()"));
}

}  // namespace

TEST(Listener, HearsANotifyWithItsPayload) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  db::Listener listener{database};
  listener.listen("chan_a");
  listener.connect();
  EXPECT_TRUE(listener.connected());
  side.exec("NOTIFY chan_a, 'hello'");
  side.exec("NOTIFY other_chan, 'unheard'");
  auto w = listener.wait(30s);
  ASSERT_EQ(w.event, Event::notified);
  ASSERT_EQ(w.notifications.size(), 1u);
  EXPECT_EQ(w.notifications[0].channel, "chan_a");
  EXPECT_EQ(w.notifications[0].payload, "hello");
  EXPECT_EQ(listener.wait(200ms).event, Event::timed_out);
}

TEST(Listener, ChannelsThatNeedQuotingAreQuoted) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  db::Listener listener{database};
  listener.listen("Mixed \"Case\"");
  listener.connect();
  side.exec(R"(NOTIFY "Mixed ""Case""", 'x')");
  auto w = listener.wait(30s);
  ASSERT_EQ(w.event, Event::notified);
  EXPECT_EQ(w.notifications.at(0).channel, "Mixed \"Case\"");
}

TEST(Listener, AChannelAddedWhileConnectedIsListenedAtOnce) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  db::Listener listener{database};
  listener.connect();
  listener.listen("late_chan");
  side.exec("NOTIFY late_chan");
  auto w = listener.wait(30s);
  ASSERT_EQ(w.event, Event::notified);
  EXPECT_EQ(w.notifications.at(0).channel, "late_chan");
}

TEST(Listener, TimesOutQuietly) {
  db::Database database{sh_test::config()};
  db::Listener listener{database};
  listener.listen("quiet_chan");
  listener.connect();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(listener.wait(100ms).event, Event::timed_out);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 90ms);  // poll() counts whole milliseconds
  EXPECT_LT(took, 20s);
  EXPECT_THROW(listener.wait(-1ms), db::InvalidArgument);
}

TEST(Listener, WakeEndsAWaitFromAnotherThread) {
  db::Database database{sh_test::config()};
  db::Listener listener{database};
  listener.listen("wake_chan");
  listener.connect();
  std::thread waker([&] {
    std::this_thread::sleep_for(100ms);
    listener.wake();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(listener.wait(60s).event, Event::woken);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  waker.join();
  listener.wake();  // before a wait: that wait returns at once
  EXPECT_EQ(listener.wait(60s).event, Event::woken);
  EXPECT_EQ(listener.wait(50ms).event, Event::timed_out) << "woken once only";
}

TEST(Listener, ReconnectsAndListensAgainAfterItsBackendIsKilled) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  db::Listener listener{database};
  listener.listen("lost_chan");
  listener.listen("lost_chan_two");
  listener.connect();
  sh_test::Side(sh_test::admin_conninfo())
      .terminate(listener_pid(side, "LISTEN lost_chan"));
  auto w = listener.wait(30s);
  EXPECT_EQ(w.event, Event::lost);
  EXPECT_FALSE(w.error.empty());
  EXPECT_FALSE(listener.connected());
  EXPECT_EQ(listener.wait(30s).event, Event::connected);
  EXPECT_TRUE(listener.connected());
  side.exec("NOTIFY lost_chan_two, 'back'");
  w = listener.wait(30s);
  ASSERT_EQ(w.event, Event::notified);
  EXPECT_EQ(w.notifications.at(0).channel, "lost_chan_two");
}

TEST(Listener, AServerThatIsDownIsNoErrorToWait) {
  auto config = sh_test::config();
  config.conninfo = "host=127.0.0.1 port=1 connect_timeout=2";
  db::Database database{config};
  db::Listener listener{database};
  listener.listen("down_chan");  // remembered; nothing to send yet
  EXPECT_THROW(listener.connect(), db::ConnectionError);
  auto w = listener.wait(50ms);
  EXPECT_EQ(w.event, Event::timed_out);
  EXPECT_FALSE(w.error.empty());
  EXPECT_FALSE(listener.connected());
}

TEST(Listener, RejectsChannelsTheServerWouldMangle) {
  db::Database database{sh_test::config()};
  db::Listener listener{database};
  EXPECT_THROW(listener.listen(""), db::InvalidArgument);
  EXPECT_THROW(listener.listen(std::string(64, 'c')), db::InvalidArgument);
  EXPECT_THROW(listener.listen(std::string("a\0b", 3)), db::InvalidArgument);
  listener.listen(std::string(63, 'c'));
}
