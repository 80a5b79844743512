// Schedule: the cron and interval dialect, and next firing times (pure
// logic; the stored schedules are tested in server/schedule_test.cpp).

#include "soundhash/db/schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace db = soundhash::db;
using namespace std::chrono;

namespace {

// y-m-d h:m:s UTC
db::Timestamp at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0,
                 int s = 0) {
  return db::Timestamp{sys_days{year{y} / month{mo} / day{d}} + hours{h} +
                       minutes{mi} + seconds{s}};
}

db::Timestamp next(const char* expr, db::Timestamp t) {
  return db::Schedule::parse(expr).next_after(t);
}

std::string error_of(const char* expr) {
  try {
    db::Schedule::parse(expr);
  } catch (const db::InvalidSchedule& e) {
    EXPECT_EQ(e.expression(), expr);
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << expr;
  return {};
}

}  // namespace

TEST(Schedule, EveryMinuteFiresOnTheNextWholeMinute) {
  EXPECT_EQ(next("* * * * *", at(2026, 3, 1, 10, 0, 0)), at(2026, 3, 1, 10, 1));
  EXPECT_EQ(next("* * * * *", at(2026, 3, 1, 10, 0, 59)),
            at(2026, 3, 1, 10, 1));
  // strictly after
  EXPECT_EQ(next("5 * * * *", at(2026, 3, 1, 10, 5)), at(2026, 3, 1, 11, 5));
}

TEST(Schedule, FieldsListsRangesSteps) {
  EXPECT_EQ(next("30 2 * * *", at(2026, 3, 1, 3, 0)), at(2026, 3, 2, 2, 30));
  EXPECT_EQ(next("*/15 * * * *", at(2026, 3, 1, 10, 16)),
            at(2026, 3, 1, 10, 30));
  EXPECT_EQ(next("0,20,40 9-17 * * *", at(2026, 3, 1, 17, 41)),
            at(2026, 3, 2, 9, 0));
  EXPECT_EQ(next("10-30/10 * * * *", at(2026, 3, 1, 10, 20)),
            at(2026, 3, 1, 10, 30));
  EXPECT_EQ(next("5/20 * * * *", at(2026, 3, 1, 10, 26)),
            at(2026, 3, 1, 10, 45));
  // month rollover and year rollover
  EXPECT_EQ(next("0 0 1 * *", at(2026, 12, 15)), at(2027, 1, 1));
  EXPECT_EQ(next("0 0 31 * *", at(2026, 4, 1)), at(2026, 5, 31));
}

TEST(Schedule, NamesAndSundayAsSeven) {
  // 2026-03-01 is a Sunday.
  EXPECT_EQ(next("0 8 * * MON", at(2026, 3, 1)), at(2026, 3, 2, 8, 0));
  EXPECT_EQ(next("0 8 * * mon-fri", at(2026, 3, 6, 9, 0)),
            at(2026, 3, 9, 8, 0));
  EXPECT_EQ(next("0 0 * * 7", at(2026, 3, 2)), at(2026, 3, 8));
  EXPECT_EQ(next("0 0 * * 0", at(2026, 3, 2)), at(2026, 3, 8));
  EXPECT_EQ(next("0 0 1 jun *", at(2026, 3, 2)), at(2026, 6, 1));
}

TEST(Schedule, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // Vixie cron: both restricted -> either matches; one "*" -> both must.
  // 2026-03-01 is a Sunday; the 13th is a Friday.
  EXPECT_EQ(next("0 0 13 * 5", at(2026, 3, 1)), at(2026, 3, 6));    // Fri 6th
  EXPECT_EQ(next("0 0 */2 * 5", at(2026, 3, 1)), at(2026, 3, 13));  // odd Fri
}

TEST(Schedule, LeapDayAndMacros) {
  EXPECT_EQ(next("0 0 29 2 *", at(2026, 3, 1)), at(2028, 2, 29));
  EXPECT_EQ(next("@hourly", at(2026, 3, 1, 10, 30)), at(2026, 3, 1, 11, 0));
  EXPECT_EQ(next("@daily", at(2026, 3, 1, 10, 30)), at(2026, 3, 2));
  EXPECT_EQ(next("@midnight", at(2026, 3, 1, 10, 30)), at(2026, 3, 2));
  EXPECT_EQ(next("@weekly", at(2026, 3, 1, 10, 30)), at(2026, 3, 8));
  EXPECT_EQ(next("@monthly", at(2026, 3, 1, 10, 30)), at(2026, 4, 1));
  EXPECT_EQ(next("@yearly", at(2026, 3, 1)), at(2027, 1, 1));
  EXPECT_EQ(next("@annually", at(2026, 3, 1)), at(2027, 1, 1));
  EXPECT_EQ(db::Schedule::parse("@daily").expression(), "@daily");
}

TEST(Schedule, EveryIsAlignedToTheEpoch) {
  const auto s = db::Schedule::parse("@every 30s");
  EXPECT_EQ(s.interval(), seconds{30});
  EXPECT_EQ(s.next_after(at(2026, 3, 1, 10, 0, 0)), at(2026, 3, 1, 10, 0, 30));
  EXPECT_EQ(s.next_after(at(2026, 3, 1, 10, 0, 29) + milliseconds{999}),
            at(2026, 3, 1, 10, 0, 30));
  EXPECT_EQ(next("@every 1h30m", at(2026, 3, 1, 0, 10)), at(2026, 3, 1, 1, 30));
  EXPECT_EQ(next("@every 1d", at(2026, 3, 1, 0, 10)), at(2026, 3, 2));
  EXPECT_EQ(db::Schedule::parse("* * * * *").interval(), std::nullopt);
}

TEST(Schedule, ExpressionIsNormalised) {
  EXPECT_EQ(db::Schedule::parse("  0   2 *\t* *  ").expression(), "0 2 * * *");
  EXPECT_EQ(db::Schedule::parse("@EVERY 5m").expression(), "@every 5m");
}

TEST(Schedule, MalformedExpressionsSayWhy) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("* * * *").find("5 fields"), std::string::npos);
  EXPECT_NE(error_of("* * * * * *").find("5 fields"), std::string::npos);
  EXPECT_NE(error_of("60 * * * *").find("minute field"), std::string::npos);
  EXPECT_NE(error_of("* 24 * * *").find("out of range 0-23"),
            std::string::npos);
  EXPECT_NE(error_of("* * 0 * *").find("day-of-month"), std::string::npos);
  EXPECT_NE(error_of("* * * 13 *").find("month"), std::string::npos);
  EXPECT_NE(error_of("* * * * 8").find("day-of-week"), std::string::npos);
  EXPECT_NE(error_of("* * * foo *").find("unknown name"), std::string::npos);
  EXPECT_NE(error_of("x * * * *").find("unknown name"), std::string::npos);
  EXPECT_NE(error_of("*/0 * * * *").find("step"), std::string::npos);
  EXPECT_NE(error_of("5-1 * * * *").find("low to high"), std::string::npos);
  EXPECT_NE(error_of("1,,2 * * * *").find("empty list item"),
            std::string::npos);
  EXPECT_NE(error_of("0 0 31 2 *").find("never fires"), std::string::npos);
  EXPECT_NE(error_of("0 0 31 2,apr,6,9,11 *").find("never fires"),
            std::string::npos);
  EXPECT_NE(error_of("@often").find("unknown macro"), std::string::npos);
  EXPECT_NE(error_of("@daily 5").find("unknown macro"), std::string::npos);
  EXPECT_NE(error_of("@every").find("one interval"), std::string::npos);
  EXPECT_NE(error_of("@every 10").find("units"), std::string::npos);
  EXPECT_NE(error_of("@every 10x").find("unknown unit"), std::string::npos);
  EXPECT_NE(error_of("@every 0s").find("at least 1s"), std::string::npos);
  EXPECT_NE(error_of("@every 367d").find("366 days"), std::string::npos);
  EXPECT_NE(error_of("@every 99999999999999999999s").find("366 days"),
            std::string::npos);
  // An InvalidSchedule is an InvalidArgument.
  EXPECT_THROW(db::Schedule::parse("bad"), db::InvalidArgument);
}
