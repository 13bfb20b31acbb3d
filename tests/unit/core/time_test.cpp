#include "core/time.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cg::core
