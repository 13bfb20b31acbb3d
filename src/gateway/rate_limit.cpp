#include "gateway/rate_limit.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace cg::gateway {

RateLimiter::RateLimiter(Options o, const core::Clock& clock) : opts_(o), clock_(clock) {
  opts_.max_keys = std::max<size_t>(opts_.max_keys, 1);
}

RateLimiter::Bucket& RateLimiter::bucket(std::string_view key, core::MonoTime now) {
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= opts_.max_keys) {
      buckets_.erase(order_.front());  // the one touched longest ago
      order_.pop_front();
    }
    order_.emplace_back(key);
    it =
        buckets_.emplace(std::string(key), Bucket{opts_.burst, now, std::prev(order_.end())}).first;
    return it->second;
  }
  Bucket& b = it->second;
  order_.splice(order_.end(), order_, b.order);  // now the most recently touched
  if (now > b.updated) {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(opts_.burst, b.tokens + elapsed * opts_.per_second);
    b.updated = now;
  }
  return b;
}

RateLimiter::Verdict RateLimiter::verdict(const Bucket& b, double cost) const {
  if (b.tokens >= cost) return {};
  double wait = opts_.per_second > 0 ? (cost - b.tokens) / opts_.per_second : 3600;
  auto secs = static_cast<int64_t>(std::ceil(wait));
  return {false, std::chrono::seconds(std::max<int64_t>(secs, 1))};
}

RateLimiter::Verdict RateLimiter::take(std::string_view key, double cost) {
  std::lock_guard lock(mu_);
  Bucket& b = bucket(key, clock_.monotonic());
  Verdict v = verdict(b, cost);
  if (v.allowed) b.tokens -= cost;
  return v;
}

RateLimiter::Verdict RateLimiter::check(std::string_view key, double cost) {
  std::lock_guard lock(mu_);
  return verdict(bucket(key, clock_.monotonic()), cost);
}

void RateLimiter::give_back(std::string_view key, double n) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) return;  // forgotten: it starts full anyway
  Bucket& b = bucket(key, clock_.monotonic());
  b.tokens = std::min(opts_.burst, b.tokens + n);
}

size_t RateLimiter::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

std::string client_key(std::string_view address) {
  std::string a(address);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  if (auto pct = a.find('%'); pct != std::string::npos) a.resize(pct);  // fe80::1%eth0
  unsigned char v6[16];
  if (a.find(':') == std::string::npos || ::inet_pton(AF_INET6, a.c_str(), v6) != 1) return a;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN];
  if (std::memcmp(v6, kMapped, sizeof kMapped) == 0) {
    ::inet_ntop(AF_INET, v6 + 12, text, sizeof text);
    return text;
  }
  std::memset(v6 + 8, 0, 8);
  ::inet_ntop(AF_INET6, v6, text, sizeof text);
  return std::string(text) + "/64";
}

namespace {

RateLimiter::Options per_minute(uint64_t n, uint64_t burst, uint64_t keys) {
  return {static_cast<double>(n) / 60.0, static_cast<double>(std::max<uint64_t>(burst, 1)),
          static_cast<size_t>(keys)};
}

std::string seconds_text(std::chrono::seconds s) {
  if (s.count() < 120) return std::to_string(s.count()) + " seconds";
  return std::to_string((s.count() + 59) / 60) + " minutes";
}

}  // namespace

AbuseLimits::AbuseLimits(const AbuseLimitsConfig& cfg, const core::Clock& clock,
                         core::MetricsRegistry& metrics)
    : cfg_(cfg),
      signins_(per_minute(cfg.signins_per_minute, cfg.signin_burst, cfg.max_clients), clock),
      // Outstanding pending sign-ins: the whole allowance comes back over a pending sign-in's
      // lifetime (5 minutes), and at once for each one /saml/acs consumes.
      pending_({static_cast<double>(cfg.pending_signins_per_client) / 300.0,
                static_cast<double>(std::max<uint64_t>(cfg.pending_signins_per_client, 1)),
                static_cast<size_t>(cfg.max_clients)},
               clock),
      device_sessions_(
          {static_cast<double>(cfg.device_code_failures) /
               std::max<double>(static_cast<double>(cfg.device_code_window.count()), 1),
           static_cast<double>(std::max<uint64_t>(cfg.device_code_failures, 1)),
           static_cast<size_t>(cfg.max_clients)},
          clock),
      device_clients_(device_sessions_.options(), clock),
      refused_(metrics.counter("claimgate_rate_limited_total",
                               "Requests refused by an abuse limit (429), by endpoint and limit "
                               "(limits.signins_per_minute, ...)",
                               {"endpoint", "limit"})) {}

AbuseLimits::Refusal AbuseLimits::refuse(std::string endpoint, std::string limit,
                                         std::string message, std::chrono::seconds retry_after) {
  refused_.inc({endpoint, limit});
  return Refusal{true, std::move(limit), std::move(message), retry_after};
}

AbuseLimits::Refusal AbuseLimits::start_signin(std::string_view client) {
  std::string key = client_key(client);
  if (cfg_.signins_per_minute > 0) {
    if (auto v = signins_.take(key); !v.allowed) {
      return refuse("/saml/login", "signins_per_minute",
                    "too many sign-ins were started from your address (more than " +
                        std::to_string(cfg_.signins_per_minute) + " a minute); try again in " +
                        seconds_text(v.retry_after),
                    v.retry_after);
    }
  }
  if (cfg_.pending_signins_per_client > 0) {
    if (auto v = pending_.take(key); !v.allowed) {
      return refuse("/saml/login", "pending_signins_per_client",
                    "your address has " + std::to_string(cfg_.pending_signins_per_client) +
                        " sign-ins started and not finished; finish one at your identity "
                        "provider, or try again in " +
                        seconds_text(v.retry_after),
                    v.retry_after);
    }
  }
  return {};
}

void AbuseLimits::signin_returned(std::string_view client) {
  if (cfg_.pending_signins_per_client > 0) pending_.give_back(client_key(client));
}

AbuseLimits::Refusal AbuseLimits::device_code_allowed(std::string_view session,
                                                      std::string_view client) {
  if (cfg_.device_code_failures == 0) return {};
  auto s = device_sessions_.check(session);
  auto c = device_clients_.check(client_key(client));
  if (s.allowed && c.allowed) return {};
  auto wait = std::max(s.retry_after, c.retry_after);
  return refuse("/.claimgate/device", "device_code_failures",
                "too many wrong codes were entered (" + std::to_string(cfg_.device_code_failures) +
                    " in " + seconds_text(cfg_.device_code_window) + ", from " +
                    (s.allowed ? "your address" : "this session") + "); try again in " +
                    seconds_text(wait),
                wait);
}

void AbuseLimits::device_code_wrong(std::string_view session, std::string_view client) {
  if (cfg_.device_code_failures == 0) return;
  (void)device_sessions_.take(session);
  (void)device_clients_.take(client_key(client));
}

}  // namespace cg::gateway
