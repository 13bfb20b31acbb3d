#include "core/time.h"

#include <gtest/gtest.h>

#include <limits>

namespace cg::core {
namespace {

// SAML timestamps with and without fractions and zones all land on the same instant.
TEST(TimeTest, ParsesXsDateTimeForms) {
  auto base = parse_datetime("2026-06-01T12:00:00Z");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(*parse_datetime("2026-06-01T12:00:00.000Z"), *base);
  EXPECT_EQ(*parse_datetime("2026-06-01T14:00:00+02:00"), *base);
  EXPECT_EQ(*parse_datetime("2026-06-01T12:00:00"), *base);
  EXPECT_EQ(*parse_datetime("2026-06-01T12:00:00.5Z") - *base, std::chrono::milliseconds(500));
  EXPECT_EQ(format_datetime(*base), "2026-06-01T12:00:00Z");
}

// Garbage and impossible dates are errors that quote the input.
TEST(TimeTest, RejectsMalformedTimestamps) {
  for (const char* bad : {"", "2026-06-01", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-06-01T12:00:00Zjunk", "2026-06-01 12:00:00Z", "yesterday"}) {
    auto t = parse_datetime(bad);
    EXPECT_FALSE(t.has_value()) << bad;
  }
  EXPECT_NE(parse_datetime("noon").error().message.find("noon"), std::string::npos);
}

// Config durations use s, m, h, d.
TEST(TimeTest, ParsesDurations) {
  EXPECT_EQ(*parse_duration("180s"), std::chrono::seconds(180));
  EXPECT_EQ(*parse_duration("5m"), std::chrono::seconds(300));
  EXPECT_EQ(*parse_duration("8h"), std::chrono::seconds(28800));
  EXPECT_EQ(*parse_duration("30d"), std::chrono::hours(720));
  EXPECT_EQ(*parse_duration_ms("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*parse_duration("0"), std::chrono::seconds(0));  // zero needs no unit
  EXPECT_FALSE(parse_duration("5 minutes").has_value());
  EXPECT_FALSE(parse_duration("5y").has_value());
  EXPECT_FALSE(parse_duration("").has_value());
  EXPECT_FALSE(parse_duration("-5s").has_value());
}

// A bare number is ambiguous (seconds? minutes?): refused, saying which units to write.
TEST(TimeTest, ABareNumberHasNoUnit) {
  auto d = parse_duration("5");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().message, "'5' has no unit; write 5s, 5m or 5h (e.g. 5m)");
  EXPECT_FALSE(parse_duration_ms("250").has_value());
  EXPECT_FALSE(parse_duration("30").has_value());
}

// Dates from outside keep their year from 0000 to 9999: past 2262 (where system_clock's
// nanoseconds end), past 2038 (where a 32-bit time_t ends), and before 1970.
TEST(TimeTest, DatesKeepTheirYearFrom0000To9999) {
  for (const char* text :
       {"1950-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2038-01-19T03:14:08Z",
        "2262-04-11T23:47:17Z", "2262-04-12T00:00:00Z", "2999-08-23T06:57:01Z",
        "9966-02-04T10:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z"}) {
    auto t = parse_datetime(text);
    ASSERT_TRUE(t.has_value()) << text;
    EXPECT_EQ(format_datetime(*t), text);
  }
  auto y2038 = *parse_datetime("2038-01-19T03:14:08Z");
  auto y2262 = *parse_datetime("2262-04-11T23:47:17Z");
  auto y2999 = *parse_datetime("2999-08-23T06:57:01Z");
  auto y9999 = *parse_datetime("9999-12-31T23:59:59Z");
  EXPECT_LT(*parse_datetime("1950-01-01T00:00:00Z"), WallTime{});
  EXPECT_LT(WallTime{}, y2038);
  EXPECT_LT(y2038, y2262);
  EXPECT_LT(y2262, y2999);
  EXPECT_LT(y2999, y9999);
  EXPECT_EQ(unix_seconds(y2038), int64_t{1} << 31);
  EXPECT_EQ(unix_seconds(y9999), 253402300799);
  EXPECT_EQ(y9999 + std::chrono::seconds(1), kMaxDate + std::chrono::microseconds(1));
  EXPECT_EQ(format_datetime(*parse_datetime("9999-12-31T23:59:59.999999Z"), true),
            "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_datetime(*parse_datetime("1950-06-30T12:34:56.5Z"), true),
            "1950-06-30T12:34:56.500000Z");
}

// A zone offset that moves a date past either end lands on the end, not beyond it.
TEST(TimeTest, OffsetsPastTheRangeClamp) {
  EXPECT_EQ(*parse_datetime("9999-12-31T23:59:59-05:00"), kMaxDate);
  EXPECT_EQ(*parse_datetime("0000-01-01T00:00:00+05:00"), kMinDate);
  EXPECT_EQ(format_datetime(kMaxDate), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_datetime(kMinDate), "0000-01-01T00:00:00Z");
}

// Unix seconds and milliseconds from outside (a JWT's exp, a stored record) never overflow:
// past the range they are the range's end.
TEST(TimeTest, UnixNumbersClampToTheDateRange) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(from_unix_seconds(kMax), kMaxDate);
  EXPECT_EQ(from_unix_seconds(kMin), kMinDate);
  EXPECT_EQ(from_unix_millis(kMax), kMaxDate);
  EXPECT_EQ(from_unix_millis(kMin), kMinDate);
  EXPECT_EQ(format_datetime(from_unix_seconds(253402300799)), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_datetime(from_unix_seconds(32503680000)), "3000-01-01T00:00:00Z");
  EXPECT_EQ(format_datetime(from_unix_seconds(-631152000)), "1950-01-01T00:00:00Z");
  EXPECT_EQ(format_datetime(from_unix_millis(32503680000123), true), "3000-01-01T00:00:00.123000Z");
  EXPECT_EQ(unix_millis(from_unix_millis(-1)), -1);
  EXPECT_EQ(unix_seconds(from_unix_millis(-1)), -1);  // rounded down, not toward zero
  EXPECT_EQ(seconds_from_outside(kMax), kMaxDuration);
  EXPECT_EQ(seconds_from_outside(kMin), -kMaxDuration);
  EXPECT_EQ(seconds_from_outside(3600), std::chrono::seconds(3600));
  // The widest sum the checks make stays inside WallTime.
  EXPECT_GT(kMaxDate + kMaxDuration + kMaxDuration, kMaxDate);
  EXPECT_LT(kMinDate - kMaxDuration - kMaxDuration, kMinDate);
}

// A broken-down UTC time (what ASN1_TIME_to_tm gives) becomes a date with no time_t in between.
TEST(TimeTest, ReadsBrokenDownTimes) {
  std::tm tm{};
  tm.tm_year = 9999 - 1900;
  tm.tm_mon = 11;
  tm.tm_mday = 31;
  tm.tm_hour = 23;
  tm.tm_min = 59;
  tm.tm_sec = 59;
  EXPECT_EQ(format_datetime(*from_utc_tm(tm)), "9999-12-31T23:59:59Z");
  tm.tm_year = 50;
  tm.tm_mon = 0;
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  EXPECT_EQ(format_datetime(*from_utc_tm(tm)), "1950-01-01T00:00:00Z");
  tm.tm_mon = 1;
  tm.tm_mday = 30;
  EXPECT_FALSE(from_utc_tm(tm).has_value());  // 30 February
  tm.tm_mday = 1;
  tm.tm_year = 10000 - 1900;
  EXPECT_FALSE(from_utc_tm(tm).has_value());
}

// A duration longer than 10,000 years is refused (it used to overflow: 2^40 days in ms).
TEST(TimeTest, RefusesDurationsPastTenThousandYears) {
  EXPECT_EQ(*parse_duration("3650000d"), std::chrono::hours(24) * 3650000);
  for (const char* long_one : {"4000000d", "1099511627776d", "1099511627776h", "99999999999m"}) {
    auto d = parse_duration(long_one);
    ASSERT_FALSE(d.has_value()) << long_one;
    EXPECT_NE(d.error().message.find("longer than 10000 years"), std::string::npos)
        << d.error().message;
  }
  EXPECT_FALSE(parse_duration("99999999999999999999s").has_value());
}

}  // namespace
}  // namespace cg::core
