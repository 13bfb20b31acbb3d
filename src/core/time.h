// Timestamps as SAML writes them (xs:dateTime, RFC 3339) and durations as configs write them.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace cg::core {

// The range of every date that comes from outside (xs:dateTime, X.509 UTCTime and
// GeneralizedTime, JWT NumericDate, a stored record): 0000-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999Z. RFC 5280 writes "no expiry" as 99991231235959Z.
inline constexpr WallTime kMinDate{
    std::chrono::sys_days{std::chrono::year{0} / std::chrono::January / 1}};
inline constexpr WallTime kMaxDate{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1} -
    std::chrono::microseconds(1)};
// The longest duration parsed or taken from outside (configs, xs:duration, token lifetimes):
// 10,000 years. A date in range plus or minus a few of them stays far inside WallTime's
// +-292,000 years, so the arithmetic that checks dates cannot overflow.
inline constexpr std::chrono::seconds kMaxDuration =
    std::chrono::duration_cast<std::chrono::seconds>(std::chrono::years(10000));

// A date moved into [kMinDate, kMaxDate]: before it is "far past", after it "far future".
WallTime clamp_date(WallTime t);
// A duration from outside moved into [-kMaxDuration, kMaxDuration].
std::chrono::seconds clamp_duration(std::chrono::seconds d);
std::chrono::seconds seconds_from_outside(int64_t seconds);
// Unix seconds / milliseconds (a JWT's exp, a stored expiry) to a date, clamped as above: no
// value of the int64 overflows.
WallTime from_unix_seconds(int64_t seconds);
WallTime from_unix_millis(int64_t millis);
// A date to Unix seconds / milliseconds (rounded down).
int64_t unix_seconds(WallTime t);
int64_t unix_millis(WallTime t);
// A broken-down UTC time (std::tm as ASN1_TIME_to_tm fills it: tm_year since 1900) to a date,
// with no time_t in between; nullopt when the fields name no real day.
std::optional<WallTime> from_utc_tm(const std::tm& tm);

// Parses "2026-11-22T23:04:06Z", "2026-11-22T23:04:06.123456Z", "...+02:00".
// A missing zone is taken as UTC (SAML requires UTC; several IdPs omit the 'Z'). Years 0000 to
// 9999; a zone offset that moves the time past either end is clamped to it.
Result<WallTime> parse_datetime(std::string_view text);
// Formats as "YYYY-MM-DDTHH:MM:SSZ" (or with `.ffffff` when `micros`).
std::string format_datetime(WallTime t, bool micros = false);

// Parses "180s", "5m", "8h", "30d" or "250ms": the one duration parser of configs, flags and
// requests. A unit is required (but for "0"): a bare "5" fails, "'5' has no unit; write 5s, 5m or
// 5h". At most kMaxDuration: a longer one fails, naming the limit.
Result<std::chrono::seconds> parse_duration(std::string_view text);
// The same, to the millisecond ("250ms").
Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

}  // namespace cg::core
