// Abuse limits: token buckets per key (a client address, a session) in a bounded table, and the
// gateway's limits built on them (config `limits:`, docs/configuration.md "Abuse limits"):
//  - sign-ins started per client: /saml/login stores a pending sign-in for every request, so a
//    client may start at most `signins_per_minute` (bursts of `signin_burst`);
//  - outstanding pending sign-ins per client: at most `pending_signins_per_client` that have not
//    come back to /saml/acs (one returns its slot when /saml/acs consumes it), so one client
//    cannot fill the store for everyone;
//  - wrong device codes at /.claimgate/device: `device_code_failures` per `device_code_window`,
//    per session and per client.
// A refused request is answered 429 with Retry-After and counted in
// claimgate_rate_limited_total{endpoint,limit}.
//
// Time is the injected clock's monotonic time. The table of each limiter holds at most
// `max_keys` buckets: when full, the bucket touched longest ago goes (it has most likely
// refilled already, so forgetting it costs nothing), so the table cannot grow without bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/metrics.h"

namespace cg::gateway {

// What config `limits:` sets for them (0: that limit is off).
struct AbuseLimitsConfig {
  uint64_t signins_per_minute = 60;              // sign-ins a client may start, sustained
  uint64_t signin_burst = 30;                    // ... and at once
  uint64_t pending_signins_per_client = 100;     // started and not (yet) back at /saml/acs
  uint64_t device_code_failures = 10;            // wrong codes per session and per client ...
  std::chrono::seconds device_code_window{600};  // ... in this long
  uint64_t max_clients = 100'000;                // buckets each limiter remembers
};

// A token bucket per key: `burst` tokens at most, refilled at `per_second`.
class RateLimiter {
 public:
  struct Options {
    double per_second = 1;
    double burst = 30;
    size_t max_keys = 100'000;
  };
  struct Verdict {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // refused: when a token is back (at least 1 s)
  };
  RateLimiter(Options o, const core::Clock& clock);

  // Takes `cost` tokens when the key has them; otherwise takes nothing and refuses.
  Verdict take(std::string_view key, double cost = 1);
  // Whether `cost` tokens are there, taking none.
  Verdict check(std::string_view key, double cost = 1);
  // Gives `n` tokens back (never above the burst), e.g. when what a token paid for is undone.
  void give_back(std::string_view key, double n = 1);
  size_t size() const;
  const Options& options() const { return opts_; }

 private:
  struct Bucket {
    double tokens = 0;
    core::MonoTime updated{};
    std::list<std::string>::iterator order;
  };
  Bucket& bucket(std::string_view key, core::MonoTime now);  // refilled to `now`, under mu_
  Verdict verdict(const Bucket& b, double cost) const;
  Options opts_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> order_;  // keys, least recently touched first
};

// The key a client address is limited under: an IPv4 address as it is, an IPv6 address by its
// /64 (one subscriber usually holds a whole /64), an IPv4-mapped IPv6 address as IPv4.
std::string client_key(std::string_view address);

// The gateway's limits (Gateway owns one).
class AbuseLimits {
 public:
  AbuseLimits(const AbuseLimitsConfig& cfg, const core::Clock& clock,
              core::MetricsRegistry& metrics);

  struct Refusal {
    bool refused = false;
    std::string limit;    // the config key that refused ("signins_per_minute", ...)
    std::string message;  // a sentence for the answer
    std::chrono::seconds retry_after{0};
  };
  // /saml/login, before a pending sign-in is stored for `client`.
  Refusal start_signin(std::string_view client);
  // /saml/acs consumed a pending sign-in `client` started: its slot is free again.
  void signin_returned(std::string_view client);
  // /.claimgate/device: whether this session and client may try another code ...
  Refusal device_code_allowed(std::string_view session, std::string_view client);
  // ... and a wrong one was entered.
  void device_code_wrong(std::string_view session, std::string_view client);

 private:
  Refusal refuse(std::string endpoint, std::string limit, std::string message,
                 std::chrono::seconds retry_after);
  AbuseLimitsConfig cfg_;
  RateLimiter signins_, pending_, device_sessions_, device_clients_;
  core::CounterFamily& refused_;  // claimgate_rate_limited_total{endpoint,limit}
};

}  // namespace cg::gateway
