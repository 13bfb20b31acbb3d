#include "core/time.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/errors.h"

namespace cg::core {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

Unexpected<Error> bad_time(std::string_view text) {
  return fail(Code::kTime, "'" + std::string(text.substr(0, 64)) +
                               "' is not a timestamp of the form 2026-01-31T12:00:00Z");
}

}  // namespace

WallTime clamp_date(WallTime t) { return std::clamp(t, kMinDate, kMaxDate); }

std::chrono::seconds clamp_duration(std::chrono::seconds d) {
  return std::clamp(d, -kMaxDuration, kMaxDuration);
}

std::chrono::seconds seconds_from_outside(int64_t seconds) {
  return clamp_duration(std::chrono::seconds(seconds));
}

WallTime from_unix_seconds(int64_t seconds) {
  using namespace std::chrono;
  constexpr int64_t lo = duration_cast<std::chrono::seconds>(kMinDate.time_since_epoch()).count();
  constexpr int64_t hi = duration_cast<std::chrono::seconds>(kMaxDate.time_since_epoch()).count();
  if (seconds < lo) return kMinDate;
  if (seconds > hi) return kMaxDate;
  return WallTime(std::chrono::seconds(seconds));
}

WallTime from_unix_millis(int64_t millis) {
  using namespace std::chrono;
  constexpr int64_t lo = duration_cast<milliseconds>(kMinDate.time_since_epoch()).count();
  constexpr int64_t hi = duration_cast<milliseconds>(kMaxDate.time_since_epoch()).count();
  if (millis < lo) return kMinDate;
  if (millis > hi) return kMaxDate;
  return WallTime(milliseconds(millis));
}

int64_t unix_seconds(WallTime t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

int64_t unix_millis(WallTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<WallTime> from_utc_tm(const std::tm& tm) {
  using namespace std::chrono;
  if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
      tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
      tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return std::nullopt;
  year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                     day{static_cast<unsigned>(tm.tm_mday)}};
  if (!ymd.ok()) return std::nullopt;
  return WallTime(sys_days(ymd)) + hours(tm.tm_hour) + minutes(tm.tm_min) + seconds(tm.tm_sec);
}

Result<WallTime> parse_datetime(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return bad_time(s);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad_time(s);
  size_t pos = 19;
  long micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return bad_time(s);
    for (int i = n; i < 6; ++i) micros *= 10;
  }
  long offset_s = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !digits(s, pos + 4, 2, om))
        return bad_time(s);
      offset_s = (oh * 3600L + om * 60L) * (s[pos] == '+' ? 1 : -1);
      pos += 6;
    }
  }
  if (pos != s.size()) return bad_time(s);
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return bad_time(s);
  WallTime t = WallTime(sys_days(ymd)) + hours(h) + minutes(mi) + seconds(sec) +
               microseconds(micros) - seconds(offset_s);
  return clamp_date(t);
}

std::string format_datetime(WallTime t, bool micros) {
  using namespace std::chrono;
  auto us = time_point_cast<microseconds>(t);
  auto days = floor<std::chrono::days>(us);
  year_month_day ymd(days);
  hh_mm_ss hms(us - days);
  char buf[40];
  if (micros) {
    std::snprintf(
        buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld.%06ldZ", static_cast<int>(ymd.year()),
        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
        static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
        static_cast<long>(hms.seconds().count()), static_cast<long>(hms.subseconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                  static_cast<long>(hms.minutes().count()),
                  static_cast<long>(hms.seconds().count()));
  }
  return buf;
}

Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
  long long n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || n < 0 || n > (1LL << 40)) {
    return fail(Code::kTime,
                "'" + std::string(text) + "' is not a duration such as 180s, 5m, 8h or 30d");
  }
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  using namespace std::chrono;
  if (unit.empty() && n == 0) return milliseconds(0);  // zero is zero in every unit
  if (unit.empty()) {
    // A bare number is ambiguous (is `idle: 5` five seconds or five minutes?): say which.
    std::string n_text(text);
    return fail(Code::kTime, "'" + n_text + "' has no unit; write " + n_text + "s, " + n_text +
                                 "m or " + n_text + "h (e.g. " + n_text + "m)");
  }
  long long per = 0;  // milliseconds in one unit
  if (unit == "s") per = 1000;
  if (unit == "ms") per = 1;
  if (unit == "m") per = 60'000;
  if (unit == "h") per = 3'600'000;
  if (unit == "d") per = 86'400'000;
  if (per == 0)
    return fail(Code::kTime,
                "'" + std::string(text) + "' has an unknown unit (use ms, s, m, h or d)");
  constexpr long long kMaxMs = duration_cast<milliseconds>(kMaxDuration).count();
  if (n > kMaxMs / per)
    return fail(Code::kTime, "'" + std::string(text) + "' is longer than 10000 years (" +
                                 std::to_string(kMaxDuration.count() / 86400) + "d)");
  return milliseconds(n * per);
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  CG_TRY(auto ms, parse_duration_ms(text));
  return std::chrono::duration_cast<std::chrono::seconds>(ms);
}

}  // namespace cg::core
