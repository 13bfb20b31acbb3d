// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
// headers a request arrives with are checked strictly; a valid one is continued (same trace id,
// the gateway's own span id as the parent of what it sends on), an invalid or missing one is
// replaced by a fresh trace, never forwarded as it came. The trace id goes into every log line
// and audit record of the request (docs/operations.md, "Trace context").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/random.h"

namespace cg::core {

// A parsed version-00 traceparent: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
struct Traceparent {
  std::string trace_id;   // 32 lower-case hex, not all zero
  std::string parent_id;  // 16 lower-case hex, not all zero
  uint8_t flags = 0;      // bit 0: sampled
};

// The value parsed, or nullopt when it is not a valid version-00 traceparent: exactly 55
// characters, lower-case hex only, '-' separators, version 00, neither id all zero. (A later
// version is not guessed at: the header is replaced.)
std::optional<Traceparent> parse_traceparent(std::string_view value);

// Limits on the tracestate passed on: W3C allows 32 list members; 512 characters are what
// every vendor must propagate.
inline constexpr size_t kMaxTracestateMembers = 32;
inline constexpr size_t kMaxTracestateChars = 512;

// The tracestate to pass on: its members re-joined with ',' (empty members and optional
// whitespace dropped), or "" when any member is malformed (key or value grammar), a key
// repeats or there are more than 32 members. Past 512 characters, members longer than 128 go
// first, then members from the end, as the specification advises.
std::string sanitize_tracestate(std::string_view value);

// The trace of one request through the gateway.
struct TraceContext {
  std::string trace_id;    // 32 hex: the client's when its traceparent was valid, else new
  std::string parent_id;   // the client's span (16 hex), "" when the trace started here
  std::string span_id;     // the gateway's own span: the parent of what goes upstream
  uint8_t flags = 0;       // the client's sampled flag (01 or 00), 00 for a trace started here
  std::string tracestate;  // sanitised (see above); "" when none or when the trace is new
  bool continued = false;  // the trace id came from the client

  // "00-<trace_id>-<span_id>-<flags>": the traceparent the gateway sends upstream.
  std::string traceparent() const;
};

// The trace of a request that arrived with these header values: `traceparent_count` is how
// many traceparent fields it held (more than one is invalid); `tracestate` is its tracestate
// fields joined with ','. Ids come from `random` (a trace id or span id of all zeros is never
// made).
TraceContext continue_or_start_trace(std::string_view traceparent, size_t traceparent_count,
                                     std::string_view tracestate, Random& random);

}  // namespace cg::core
