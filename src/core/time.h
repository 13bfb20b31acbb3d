// Timestamps as SAML writes them (xs:dateTime, RFC 3339) and durations as configs write them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace cg::core {

// Parses "2026-11-22T23:04:06Z", "2026-11-22T23:04:06.123456Z", "...+02:00".
// A missing zone is taken as UTC (SAML requires UTC; several IdPs omit the 'Z').
Result<WallTime> parse_datetime(std::string_view text);
// Formats as "YYYY-MM-DDTHH:MM:SSZ" (or with `.ffffff` when `micros`).
std::string format_datetime(WallTime t, bool micros = false);

// Parses "180s", "5m", "8h", "30d" or "250ms": the one duration parser of configs, flags and
// requests. A unit is required (but for "0"): a bare "5" fails, "'5' has no unit; write 5s, 5m or
// 5h".
Result<std::chrono::seconds> parse_duration(std::string_view text);
// The same, to the millisecond ("250ms").
Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

}  // namespace cg::core
