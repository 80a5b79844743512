// Schedule: parsing cron and interval expressions, and their next firing
// time. Pure logic (tests/unit/schedule_test.cpp).

#include "soundhash/db/schedule.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace soundhash::db {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::array<std::string_view, 12> kMonthNames = {
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// The longest interval: a year is plenty, and keeps arithmetic far from
// overflow.
constexpr milliseconds kMaxEvery = days{366};

[[noreturn]] void fail(std::string_view expression, const std::string& why) {
  throw InvalidSchedule("schedule \"" + std::string(expression) + "\": " + why,
                        std::string(expression));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// One cron field: its name, range, and the names its values may take.
struct CronField {
  std::string_view name;
  int lo;
  int hi;
  const std::string_view* names = nullptr;  // names[i] is lo + i
  std::size_t name_count = 0;
};

class FieldParser {
 public:
  FieldParser(std::string_view expression, const CronField& field)
      : expression_(expression), field_(field) {}

  // The values `text` selects, as bits lo..hi.
  std::vector<bool> parse(std::string_view text) const {
    std::vector<bool> bits(static_cast<std::size_t>(field_.hi) + 1, false);
    for (auto item : split(text, ',')) {
      if (item.empty()) error(text, "an empty list item");
      int step = 1;
      if (const auto slash = item.find('/'); slash != std::string_view::npos) {
        step = number(text, item.substr(slash + 1), "step");
        if (step < 1) error(text, "a step must be at least 1");
        item = item.substr(0, slash);
      }
      int from = field_.lo;
      int to = field_.hi;
      if (item != "*") {
        const auto dash = item.find('-');
        from = value(text, item.substr(0, dash));
        if (dash != std::string_view::npos) {
          to = value(text, item.substr(dash + 1));
          if (to < from) error(text, "a range runs from low to high");
        } else if (step == 1) {
          to = from;  // "5"; "5/15" runs from 5 to the end
        }
      }
      for (int v = from; v <= to; v += step) {
        bits[static_cast<std::size_t>(v)] = true;
      }
    }
    return bits;
  }

 private:
  [[noreturn]] void error(std::string_view text, const std::string& why) const {
    fail(expression_, std::string(field_.name) + " field \"" +
                          std::string(text) + "\": " + why);
  }

  int number(std::string_view text, std::string_view digits,
             std::string_view what) const {
    int v = 0;
    const auto* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, v);
    if (digits.empty() || ec != std::errc{} || ptr != end) {
      error(text,
            "\"" + std::string(digits) + "\" is not a " + std::string(what));
    }
    return v;
  }

  // A value of the field: a number in range, or a name.
  int value(std::string_view text, std::string_view token) const {
    if (!token.empty() &&
        std::isalpha(static_cast<unsigned char>(token.front()))) {
      const auto name = lower(token);
      for (std::size_t i = 0; i < field_.name_count; ++i) {
        if (field_.names[i] == name) return field_.lo + static_cast<int>(i);
      }
      error(text, "unknown name \"" + std::string(token) + "\"");
    }
    const int v = number(text, token, "number");
    if (v < field_.lo || v > field_.hi) {
      error(text, std::to_string(v) + " is out of range " +
                      std::to_string(field_.lo) + "-" +
                      std::to_string(field_.hi));
    }
    return v;
  }

  std::string_view expression_;
  const CronField& field_;
};

template <std::size_t N>
std::bitset<N> to_bits(const std::vector<bool>& v) {
  std::bitset<N> out;
  for (std::size_t i = 0; i < N && i < v.size(); ++i) out[i] = v[i];
  return out;
}

// "30s", "1h30m": whole seconds, minutes, hours, days.
milliseconds parse_every(std::string_view expression, std::string_view text) {
  if (text.empty()) fail(expression, "@every needs an interval, e.g. 30s");
  milliseconds total{0};
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
      ++j;
    if (j == i || j == text.size()) {
      fail(expression,
           "an interval is numbers with units s, m, h or d "
           "(e.g. 30s, 1h30m)");
    }
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + j, n);
    if (ec != std::errc{} || n > kMaxEvery.count()) {
      fail(expression, "the interval is longer than 366 days");
    }
    milliseconds unit{0};
    switch (text[j]) {
      case 's':
        unit = seconds{1};
        break;
      case 'm':
        unit = minutes{1};
        break;
      case 'h':
        unit = hours{1};
        break;
      case 'd':
        unit = days{1};
        break;
      default:
        fail(expression,
             std::string("unknown unit '") + text[j] + "' (s, m, h or d)");
    }
    total += unit * n;
    if (total > kMaxEvery) {
      fail(expression, "the interval is longer than 366 days");
    }
    i = j + 1;
  }
  if (total < seconds{1}) fail(expression, "the interval must be at least 1s");
  return total;
}

unsigned days_in_month(unsigned month) {
  // February counts its leap day: a day that exists in some year.
  constexpr std::array<unsigned, 13> kDays = {0,  31, 29, 31, 30, 31, 30,
                                              31, 31, 30, 31, 30, 31};
  return kDays[month];
}

}  // namespace

Schedule Schedule::parse(std::string_view expression) {
  // Fields split on blanks; stored joined by single spaces.
  std::vector<std::string> fields;
  {
    std::size_t i = 0;
    while (i < expression.size()) {
      while (i < expression.size() &&
             std::isspace(static_cast<unsigned char>(expression[i])))
        ++i;
      std::size_t j = i;
      while (j < expression.size() &&
             !std::isspace(static_cast<unsigned char>(expression[j])))
        ++j;
      if (j > i) fields.emplace_back(expression.substr(i, j - i));
      i = j;
    }
  }
  if (fields.empty()) fail(expression, "empty");
  Schedule s;
  for (const auto& f : fields) {
    if (!s.expression_.empty()) s.expression_ += ' ';
    s.expression_ += f;
  }
  const auto first = lower(fields[0]);
  if (first == "@every") {
    if (fields.size() != 2) {
      fail(expression, "@every takes one interval, e.g. \"@every 30s\"");
    }
    s.every_ = parse_every(expression, fields[1]);
    s.expression_ = "@every " + fields[1];
    return s;
  }
  if (first.starts_with('@')) {
    static constexpr std::pair<std::string_view, std::string_view> kMacros[] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (const auto& [name, cron] : kMacros) {
      if (first == name && fields.size() == 1) {
        auto out = parse(cron);
        out.expression_ = std::string(name);
        return out;
      }
    }
    fail(expression,
         "unknown macro (@every, @yearly, @annually, @monthly, @weekly, "
         "@daily, @midnight, @hourly)");
  }
  if (fields.size() != 5) {
    fail(expression,
         "cron needs 5 fields (minute hour day-of-month month "
         "day-of-week), got " +
             std::to_string(fields.size()));
  }
  const CronField minute_field{"minute", 0, 59};
  const CronField hour_field{"hour", 0, 23};
  const CronField day_field{"day-of-month", 1, 31};
  const CronField month_field{"month", 1, 12, kMonthNames.data(),
                              kMonthNames.size()};
  const CronField weekday_field{"day-of-week", 0, 7, kDayNames.data(),
                                kDayNames.size()};
  s.minutes_ =
      to_bits<60>(FieldParser(expression, minute_field).parse(fields[0]));
  s.hours_ = to_bits<24>(FieldParser(expression, hour_field).parse(fields[1]));
  s.days_ = to_bits<32>(FieldParser(expression, day_field).parse(fields[2]));
  s.months_ =
      to_bits<13>(FieldParser(expression, month_field).parse(fields[3]));
  auto wd = FieldParser(expression, weekday_field).parse(fields[4]);
  if (wd[7]) wd[0] = true;  // 7 is Sunday too
  s.weekdays_ = to_bits<7>(wd);
  s.any_day_ = fields[2].starts_with('*');
  s.any_weekday_ = fields[4].starts_with('*');
  // With the day-of-week unrestricted, some chosen month must have a
  // chosen day; otherwise the schedule would never fire.
  if (!s.any_day_ && s.any_weekday_) {
    bool fires = false;
    for (unsigned m = 1; m <= 12 && !fires; ++m) {
      if (!s.months_[m]) continue;
      for (unsigned d = 1; d <= days_in_month(m) && !fires; ++d) {
        fires = s.days_[d];
      }
    }
    if (!fires)
      fail(expression, "no chosen month has a chosen day; it never fires");
  }
  return s;
}

Timestamp Schedule::next_after(Timestamp t) const {
  using namespace std::chrono;
  if (every_.count() > 0) {
    const auto ms = floor<milliseconds>(t).time_since_epoch();
    // floor division, also before the epoch
    auto periods = ms / every_;
    if (every_ * periods > ms) --periods;
    return Timestamp{
        duration_cast<Timestamp::duration>(every_ * (periods + 1))};
  }
  const auto start = floor<minutes>(t) + minutes{1};
  auto d = floor<days>(start);
  auto minute_of_day = duration_cast<minutes>(start - d).count();
  // A leap day chosen alone (with weekdays unrestricted) recurs within 8
  // years; an OR of day-of-month and day-of-week within weeks.
  const auto last = d + days{366 * 9};
  for (; d < last; d += days{1}, minute_of_day = 0) {
    const year_month_day ymd{d};
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      // to the month's last day; the loop steps to the next month's first
      d = sys_days{(ymd.year() / ymd.month() / 1) + months{1}} - days{1};
      continue;
    }
    const bool dom = days_[static_cast<unsigned>(ymd.day())];
    const bool dow = weekdays_[weekday{d}.c_encoding()];
    const bool match = (any_day_ || any_weekday_) ? (dom && dow) : (dom || dow);
    if (!match) continue;
    for (auto m = minute_of_day; m < 24 * 60; ++m) {
      if (hours_[static_cast<std::size_t>(m / 60)] &&
          minutes_[static_cast<std::size_t>(m % 60)]) {
        return Timestamp{d + minutes{m}};
      }
    }
  }
  fail(expression_, "it never fires");
}

}  // namespace soundhash::db
