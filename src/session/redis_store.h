// Redis stores: sessions, one-time tickets (pending sign-ins, the assertion-id replay cache,
// CLI codes) and token grants, shared by every gateway of a deployment (docs/deployment.md).
//
// Each gateway keeps a local view of the sessions and grants it has read, so an authenticated
// request costs no Redis round trip. Every change that ends a session or a grant (logout,
// revocation, Single Logout, a refresh token spent) is published on `<prefix>events`; each
// gateway's subscriber drops its copy on the message, so a revocation reaches every gateway
// within about a millisecond. While the subscription is down, no copy is trusted: requests go
// to Redis; after a reconnect every copy is read again before it answers (messages may have
// been missed), and stays only as the fallback should Redis fail again.
// A copy is also read again after `cache_ttl` and whenever it looks expired (another gateway
// may have seen the session used since).
//
// When Redis is unreachable, a session or grant this gateway had read keeps working for
// `outage_grace` from the start of the outage; anything that needs Redis (a new sign-in, the
// replay cache, a refresh) fails (5005 session.redis) and the gateway refuses it: fail closed.
//
// Records carry their own expiry and every read compares it with the caller's `now`, as the
// SQLite store does; Redis's own key expiry (a minute later) only collects garbage.
#pragma once

#include <functional>
#include <memory>

#include "core/clock.h"
#include "session/store.h"
#include "storage/redis_client.h"

namespace cg::session {

namespace redis = storage::redis;

struct RedisStoreOptions {
  redis::Options redis;
  std::string prefix = "claimgate:";  // one per deployment sharing a Redis
  std::chrono::milliseconds cache_ttl{30'000};
  std::chrono::milliseconds outage_grace{300'000};
  size_t cache_entries = 200'000;  // per view; emptied when full
};

// The connection pool, the subscriber and the local views the three stores share.
class RedisBackend;

struct RedisStores {
  std::shared_ptr<RedisBackend> backend;
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<TicketStore> tickets;
  std::unique_ptr<TokenStore> tokens;
};

// Connects lazily: opening never fails for an unreachable Redis (the gateway starts and its
// /readyz says why); it fails for options that cannot work (TLS files).
Result<RedisStores> open_redis_stores(RedisStoreOptions o, const core::Clock& clock);

// Health and counters of a backend, for /readyz and /metrics.
struct RedisStatus {
  bool subscribed = false;         // pub/sub connected: the local view is trusted
  std::optional<double> down_for;  // seconds Redis has been unreachable
  uint64_t view_hits = 0;          // reads answered from the local view
  uint64_t view_misses = 0;        // reads that went to Redis
  uint64_t grace_hits = 0;         // reads answered from the view during an outage
  uint64_t invalidations = 0;      // pub/sub messages applied
  uint64_t resyncs = 0;            // subscriptions (re)established
};
RedisStatus redis_status(const RedisBackend& b);
// Deployment-wide events besides the stores' own: `redis_publish` sends one to every gateway
// sharing the Redis (this one too); the handler set by `redis_on_event` gets each, on the
// subscriber's thread (unset it, with nullptr, before what it uses goes away). Delivery is at
// most once, while subscribed: use it for what is also recorded in Redis or may be repeated.
Status redis_publish(RedisBackend& b, std::string_view kind, std::string_view payload);
void redis_on_event(RedisBackend& b,
                    std::function<void(std::string_view kind, std::string_view payload)> handler);

// The backend's connection pool and key prefix, for the other parts' Redis records (the
// jobs service's job records, src/jobs/redis_job_store.cpp).
redis::Client& redis_client(RedisBackend& b);
const std::string& redis_prefix(const RedisBackend& b);

// Whether the subscriber is connected (waits up to `wait` for it): tests and start-up.
bool redis_wait_subscribed(RedisBackend& b, std::chrono::milliseconds wait);

}  // namespace cg::session
