#include "session/redis_store.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "core/log.h"
#include "core/time.h"
#include "session/errors.h"
#include "storage/errors.h"

namespace cg::session {
namespace {

using Steady = std::chrono::steady_clock;
using redis::Reply;
constexpr core::Logger g_log("redis");
using redis::Script;

int64_t ms(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
core::WallTime from_ms(int64_t v) { return core::from_unix_millis(v); }
int64_t to_int(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  try {
    return r.str.empty() ? 0 : std::stoll(r.str);
  } catch (...) {
    return 0;
  }
}
// Redis's own expiry of a record: its expiry (from `now`) plus a minute, at least a minute.
std::string ttl_ms(core::WallTime expires, core::WallTime now) {
  return std::to_string(std::max<int64_t>(ms(expires) - ms(now), 0) + 60'000);
}
Unexpected<Error> corrupt(const std::string& what) {
  return fail(Code::kCorrupt, "Redis record " + what + " does not parse");
}

// --- Lua: every change that touches more than one key is one script (atomic in Redis) ------

// Sessions: the record (hash), `sx` (ids by absolute expiry: counting and purging), `sl` (ids
// by the end of their idle time, moved on every touch) and a set of ids per subject.
const Script kSessionPut(R"(
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'ls', ARGV[3], 'sub', ARGV[4], 'idp', ARGV[5],
           'si', ARGV[6], 'exp', ARGV[7], 'it', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]) + tonumber(ARGV[9]), ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[8]) then redis.call('PEXPIRE', KEYS[3], ARGV[8]) end
return 1)");

const Script kSessionTouch(R"(
local it = redis.call('HGET', KEYS[1], 'it')
if not it then return 0 end
redis.call('HSET', KEYS[1], 'ls', ARGV[1])
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(it), ARGV[2])
return 1)");

const Script kSessionRemove(R"(
local sub = redis.call('HGET', KEYS[1], 'sub')
if not sub then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. 'sl', ARGV[1])
redis.call('SREM', ARGV[2] .. 'su:' .. sub, ARGV[1])
redis.call('PUBLISH', KEYS[3], 's ' .. ARGV[1])
return 1)");

const Script kSessionRemoveSubject(R"(
local removed = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 's:' .. id
  local f = redis.call('HMGET', key, 'idp', 'si')
  if not f[1] then
    redis.call('SREM', KEYS[1], id)
  else
    local match = ARGV[2] == '' or f[1] == ARGV[2]
    if match and #ARGV > 2 then
      match = false
      for i = 3, #ARGV do if ARGV[i] == f[2] then match = true end end
    end
    if match then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', ARGV[1] .. 'sl', id)
      redis.call('SREM', KEYS[1], id)
      redis.call('PUBLISH', KEYS[3], 's ' .. id)
      removed[#removed + 1] = id
    end
  end
end
return removed)");

// Sessions past their absolute expiry or their idle time.
const Script kSessionPurge(R"(
local n = 0
local function drop(id)
  local key = ARGV[2] .. 's:' .. id
  local sub = redis.call('HGET', key, 'sub')
  if sub then redis.call('SREM', ARGV[2] .. 'su:' .. sub, id) end
  n = n + redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do drop(id) end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do drop(id) end
return n)");

const Script kTicketPut(R"(
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1)");

const Script kTicketTake(R"(
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('ZREM', KEYS[2], ARGV[1]) end
return v)");

const Script kTicketInsertOnce(R"(
local v = redis.call('GET', KEYS[1])
if v then
  local e = tonumber(string.match(v, '^(%d+)|'))
  if e and e > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. '|', 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1)");

const Script kTicketPurge(R"(
local n = 0
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  n = n + redis.call('DEL', ARGV[2] .. 't:' .. k)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return n)");

const Script kGrantPut(R"(
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'sub', ARGV[3], 'exp', ARGV[4], 'cr', ARGV[5],
           'gen', ARGV[6], 'lu', ARGV[7], 'ra', ARGV[8], 'rr', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[10]) then redis.call('PEXPIRE', KEYS[3], ARGV[10]) end
return 1)");

// 1: advanced, 2: reused (the family is revoked now), 0: gone.
const Script kGrantAdvance(R"(
local f = redis.call('HMGET', KEYS[1], 'gen', 'ra', 'exp')
if not f[1] or tonumber(f[2]) ~= 0 or tonumber(f[3]) <= tonumber(ARGV[2]) then return 0 end
local cur = tonumber(f[1])
local g = tonumber(ARGV[1])
if g == cur then
  redis.call('HSET', KEYS[1], 'gen', cur + 1, 'lu', ARGV[2])
  redis.call('PUBLISH', KEYS[2], 'g ' .. ARGV[3])
  return 1
end
if g < cur then
  redis.call('HSET', KEYS[1], 'ra', ARGV[2], 'rr', 'refresh token reused')
  redis.call('PUBLISH', KEYS[2], 'g ' .. ARGV[3])
  return 2
end
return 0)");

const Script kGrantRevoke(R"(
local ra = redis.call('HGET', KEYS[1], 'ra')
if not ra or tonumber(ra) ~= 0 then return 0 end
redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', ARGV[2])
redis.call('PUBLISH', KEYS[2], 'g ' .. ARGV[3])
return 1)");

const Script kGrantRevokeSubject(R"(
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 'g:' .. id
  local f = redis.call('HMGET', key, 'ra', 'exp')
  if not f[1] then
    redis.call('SREM', KEYS[1], id)
  elseif tonumber(f[1]) == 0 and tonumber(f[2]) > tonumber(ARGV[2]) then
    redis.call('HSET', key, 'ra', ARGV[2], 'rr', ARGV[3])
    redis.call('PUBLISH', KEYS[2], 'g ' .. id)
    out[#out + 1] = id
  end
end
return out)");

// Live grants of a subject: {id, d, gen, lu, ra, rr} for each.
const Script kGrantList(R"(
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', ARGV[1] .. 'g:' .. id, 'd', 'gen', 'lu', 'ra', 'rr', 'exp')
  if not f[1] then
    redis.call('SREM', KEYS[1], id)
  elseif tonumber(f[4]) == 0 and tonumber(f[6]) > tonumber(ARGV[2]) then
    out[#out + 1] = {id, f[1], f[2], f[3], f[4], f[5]}
  end
end
return out)");

const Script kGrantPurge(R"(
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. 'g:' .. id
  local sub = redis.call('HGET', key, 'sub')
  if sub then redis.call('SREM', ARGV[2] .. 'gu:' .. sub, id) end
  n = n + redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return n)");

// A local copy of records read from Redis, by id. `insert` only when nothing was invalidated
// since the read started (`epoch`), so a message racing the read cannot be lost.
template <class V>
class View {
 public:
  struct Entry {
    V value;
    Steady::time_point fetched;
    bool stale = false;  // read again before answering (after a resubscription)
  };
  explicit View(size_t max) : max_(max) {}
  std::optional<Entry> find(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void insert(const std::string& id, V v, uint64_t epoch, const std::atomic<uint64_t>& now_epoch) {
    std::lock_guard lock(mu_);
    if (now_epoch.load() != epoch) return;
    if (map_.size() >= max_) map_.clear();
    map_[id] = Entry{std::move(v), Steady::now()};
  }
  template <class F>
  void update(const std::string& id, F&& f) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(id); it != map_.end()) f(it->second.value);
  }
  void erase(const std::string& id, std::atomic<uint64_t>& epoch) {
    std::lock_guard lock(mu_);
    map_.erase(id);
    ++epoch;
  }
  void clear(std::atomic<uint64_t>& epoch) {
    std::lock_guard lock(mu_);
    map_.clear();
    ++epoch;
  }
  // Every copy must be read again before it answers, but stays as the outage fallback.
  void mark_stale(std::atomic<uint64_t>& epoch) {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : map_) e.stale = true;
    ++epoch;
  }

 private:
  size_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace

class RedisBackend {
 public:
  RedisBackend(RedisStoreOptions o, const core::Clock& clock)
      : opts(std::move(o)),
        clock(clock),
        client(opts.redis),
        sessions(opts.cache_entries),
        grants(opts.cache_entries),
        channel(opts.prefix + "events") {}

  void start() {
    subscriber = std::make_unique<redis::Subscriber>(
        client, channel, [this](std::string_view m) { on_message(m); },
        [this](bool up) { on_state(up); });
  }

  std::string key(std::string_view kind, std::string_view id) const {
    return opts.prefix + std::string(kind) + std::string(id);
  }

  // Whether a copy may answer without asking Redis.
  template <class Entry>
  bool fresh(const Entry& e) const {
    return subscribed.load() && !e.stale && Steady::now() - e.fetched < opts.cache_ttl;
  }
  // Whether Redis has been down for less than the grace time (a copy may then stand in).
  bool in_grace() const {
    auto since = client.down_since();
    return since && Steady::now() - *since < opts.outage_grace;
  }

  void on_message(std::string_view m) {
    if (m.size() > 2 && m.substr(0, 2) == "x ") {  // "x <kind> <payload>": redis_publish
      std::string_view rest = m.substr(2);
      auto sp = rest.find(' ');
      std::string_view kind = rest.substr(0, sp);
      std::string_view payload = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
      std::lock_guard lock(event_mu);
      if (on_event) on_event(kind, payload);
      return;
    }
    ++invalidations;
    if (m.size() > 2 && m.substr(0, 2) == "s ") {
      sessions.erase(std::string(m.substr(2)), epoch);
    } else if (m.size() > 2 && m.substr(0, 2) == "g ") {
      grants.erase(std::string(m.substr(2)), epoch);
    } else {
      sessions.clear(epoch);
      grants.clear(epoch);
    }
  }
  void on_state(bool up) {
    if (up) {
      g_log.info("subscribed to ", channel, " at ", opts.redis.describe(),
                 resyncs.load()
                     ? core::LogText(" again; every copy in the local view is read again")
                     : core::LogText(""));
      // Messages may have been missed while unsubscribed: no copy answers before it is read
      // from Redis again (each stays only as the fallback should Redis fail again).
      sessions.mark_stale(epoch);
      grants.mark_stale(epoch);
      ++resyncs;
      subscribed = true;
    } else {
      g_log.warn("lost the subscription to ", channel, " at ", opts.redis.describe(),
                 "; reads go to Redis until it is back");
      subscribed = false;
      ++epoch;
    }
  }

  RedisStoreOptions opts;
  const core::Clock& clock;
  redis::Client client;
  View<StoredSession> sessions;
  View<TokenGrant> grants;
  std::string channel;
  std::atomic<uint64_t> epoch{0};
  std::atomic<bool> subscribed{false};
  std::atomic<uint64_t> hits{0}, misses{0}, grace_hits{0}, invalidations{0}, resyncs{0};
  std::mutex event_mu;
  std::function<void(std::string_view, std::string_view)> on_event;  // guarded by event_mu
  std::unique_ptr<redis::Subscriber> subscriber;                     // last: stopped first
};

namespace {

class RedisSessionStore final : public SessionStore {
 public:
  explicit RedisSessionStore(std::shared_ptr<RedisBackend> b) : b_(std::move(b)) {}

  Status put(const Session& s) override {
    CG_CHECK(b_->client.eval(
        kSessionPut,
        {b_->key("s:", s.id), b_->key("sx", ""), b_->key("su:", s.subject), b_->key("sl", "")},
        {s.id, s.to_json(), std::to_string(ms(s.created)), s.subject, s.idp, s.session_index,
         std::to_string(ms(s.expires)), ttl_ms(s.expires, s.created),
         std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(s.idle_timeout).count())}));
    return {};
  }

  Result<std::optional<StoredSession>> get(std::string_view id_view) override {
    std::string id(id_view);
    auto now = b_->clock.now();
    auto cached = b_->sessions.find(id);
    if (cached && b_->fresh(*cached) && !expiry_at(cached->value, now)) {
      ++b_->hits;
      return std::optional<StoredSession>(cached->value);
    }
    ++b_->misses;
    uint64_t epoch = b_->epoch.load();
    auto r = b_->client.command({"HMGET", b_->key("s:", id), "d", "ls"});
    if (!r) {
      if (cached && b_->in_grace()) {
        ++b_->grace_hits;
        return std::optional<StoredSession>(cached->value);
      }
      return fail(r.take_error());
    }
    if (r->elements.size() != 2 || r->elements[0].nil()) {
      b_->sessions.erase(id, b_->epoch);
      return std::optional<StoredSession>();
    }
    StoredSession out;
    if (cached) {
      out.session = cached->value.session;  // content never changes for an id
    } else {
      auto parsed = Session::from_json(r->elements[0].str);
      if (!parsed) return corrupt("session " + id.substr(0, 8));
      out.session = std::make_shared<const Session>(std::move(*parsed));
    }
    out.last_seen = from_ms(to_int(r->elements[1]));
    b_->sessions.insert(id, out, epoch, b_->epoch);
    return std::optional<StoredSession>(std::move(out));
  }

  Status touch(std::string_view id, core::WallTime last_seen) override {
    auto done = b_->client.eval(kSessionTouch, {b_->key("s:", id), b_->key("sl", "")},
                                {std::to_string(ms(last_seen)), std::string(id)});
    // The local copy moves even when Redis is down, so that the gateway does not try (and
    // log) again on every request of the outage; Redis learns the use on the next touch.
    b_->sessions.update(std::string(id), [&](StoredSession& s) { s.last_seen = last_seen; });
    if (!done) return fail(done.take_error());
    return {};
  }

  Result<bool> remove(std::string_view id) override {
    b_->sessions.erase(std::string(id), b_->epoch);
    CG_TRY(Reply r,
           b_->client.eval(kSessionRemove, {b_->key("s:", id), b_->key("sx", ""), b_->channel},
                           {std::string(id), b_->opts.prefix}));
    return r.integer == 1;
  }

  Result<std::vector<std::string>> remove_subject(
      std::string_view subject, std::string_view idp,
      const std::vector<std::string>& session_indexes) override {
    std::vector<std::string> args{b_->opts.prefix, std::string(idp)};
    args.insert(args.end(), session_indexes.begin(), session_indexes.end());
    CG_TRY(Reply r,
           b_->client.eval(kSessionRemoveSubject,
                           {b_->key("su:", subject), b_->key("sx", ""), b_->channel}, args));
    std::vector<std::string> ids;
    for (const auto& e : r.elements) {
      ids.push_back(e.str);
      b_->sessions.erase(e.str, b_->epoch);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  Result<size_t> count_active(core::WallTime now) override {
    CG_TRY(Reply r, b_->client.command(
                        {"ZCOUNT", b_->key("sx", ""), "(" + std::to_string(ms(now)), "+inf"}));
    return static_cast<size_t>(r.integer);
  }

  Result<size_t> purge_expired(core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kSessionPurge, {b_->key("sx", ""), b_->key("sl", "")},
                                    {std::to_string(ms(now)), b_->opts.prefix}));
    return static_cast<size_t>(r.integer);
  }

 private:
  std::shared_ptr<RedisBackend> b_;
};

// A ticket as stored: "<expires ms>|<value>"; nullopt when absent or expired at `now`.
std::optional<std::string> ticket_value(const Reply& r, core::WallTime now) {
  if (r.type != Reply::Type::kString) return std::nullopt;
  auto bar = r.str.find('|');
  if (bar == std::string::npos) return std::nullopt;
  int64_t expires = 0;
  try {
    expires = std::stoll(r.str.substr(0, bar));
  } catch (...) {
    return std::nullopt;
  }
  if (expires <= ms(now)) return std::nullopt;
  return r.str.substr(bar + 1);
}

class RedisTicketStore final : public TicketStore {
 public:
  explicit RedisTicketStore(std::shared_ptr<RedisBackend> b) : b_(std::move(b)) {}

  Status put(std::string_view key, std::string_view value, core::WallTime expires) override {
    CG_CHECK(b_->client.eval(kTicketPut, {b_->key("t:", key), b_->key("tx", "")},
                             {std::string(key), std::to_string(ms(expires)), std::string(value),
                              ttl_ms(expires, b_->clock.now())}));
    return {};
  }
  Result<std::optional<std::string>> peek(std::string_view key, core::WallTime now) override {
    CG_TRY(Reply r, b_->client.command({"GET", b_->key("t:", key)}));
    return ticket_value(r, now);
  }
  Result<std::optional<std::string>> take(std::string_view key, core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kTicketTake, {b_->key("t:", key), b_->key("tx", "")},
                                    {std::string(key)}));
    return ticket_value(r, now);
  }
  Result<bool> insert_once(std::string_view key, core::WallTime expires,
                           core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kTicketInsertOnce, {b_->key("t:", key), b_->key("tx", "")},
                                    {std::string(key), std::to_string(ms(expires)),
                                     std::to_string(ms(now)), ttl_ms(expires, now)}));
    return r.integer == 1;
  }
  Result<size_t> purge_expired(core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kTicketPurge, {b_->key("tx", "")},
                                    {std::to_string(ms(now)), b_->opts.prefix}));
    return static_cast<size_t>(r.integer);
  }

 private:
  std::shared_ptr<RedisBackend> b_;
};

class RedisTokenStore final : public TokenStore {
 public:
  explicit RedisTokenStore(std::shared_ptr<RedisBackend> b) : b_(std::move(b)) {}

  Status put(const TokenGrant& g) override {
    b_->grants.erase(g.id, b_->epoch);
    CG_CHECK(b_->client.eval(
        kGrantPut, {b_->key("g:", g.id), b_->key("gx", ""), b_->key("gu:", g.subject)},
        {g.id, g.to_json(), g.subject, std::to_string(ms(g.expires)), std::to_string(ms(g.created)),
         std::to_string(g.generation), std::to_string(ms(g.last_used)),
         std::to_string(ms(g.revoked_at)), g.revoked_reason, ttl_ms(g.expires, g.created)}));
    return {};
  }

  Result<std::optional<TokenGrant>> get(std::string_view id_view) override {
    std::string id(id_view);
    auto cached = b_->grants.find(id);
    if (cached && b_->fresh(*cached) && cached->value.expires > b_->clock.now()) {
      ++b_->hits;
      return std::optional<TokenGrant>(cached->value);
    }
    ++b_->misses;
    uint64_t epoch = b_->epoch.load();
    auto r = b_->client.command({"HMGET", b_->key("g:", id), "d", "gen", "lu", "ra", "rr"});
    if (!r) {
      if (cached && b_->in_grace()) {
        ++b_->grace_hits;
        return std::optional<TokenGrant>(cached->value);
      }
      return fail(r.take_error());
    }
    if (r->elements.size() != 5 || r->elements[0].nil()) {
      b_->grants.erase(id, b_->epoch);
      return std::optional<TokenGrant>();
    }
    CG_TRY(TokenGrant g, grant_of(id, r->elements, 0));
    b_->grants.insert(id, g, epoch, b_->epoch);
    return std::optional<TokenGrant>(std::move(g));
  }

  Result<Advance> advance(std::string_view id, uint64_t generation, core::WallTime now) override {
    b_->grants.erase(std::string(id), b_->epoch);
    CG_TRY(Reply r,
           b_->client.eval(kGrantAdvance, {b_->key("g:", id), b_->channel},
                           {std::to_string(generation), std::to_string(ms(now)), std::string(id)}));
    return r.integer == 1 ? Advance::kAdvanced : r.integer == 2 ? Advance::kReused : Advance::kGone;
  }

  Result<bool> revoke(std::string_view id, core::WallTime now, std::string_view reason) override {
    b_->grants.erase(std::string(id), b_->epoch);
    CG_TRY(Reply r,
           b_->client.eval(kGrantRevoke, {b_->key("g:", id), b_->channel},
                           {std::to_string(ms(now)), std::string(reason), std::string(id)}));
    return r.integer == 1;
  }

  Result<std::vector<std::string>> revoke_subject(std::string_view subject, core::WallTime now,
                                                  std::string_view reason) override {
    CG_TRY(Reply r,
           b_->client.eval(kGrantRevokeSubject, {b_->key("gu:", subject), b_->channel},
                           {b_->opts.prefix, std::to_string(ms(now)), std::string(reason)}));
    std::vector<std::string> ids;
    for (const auto& e : r.elements) {
      ids.push_back(e.str);
      b_->grants.erase(e.str, b_->epoch);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  Result<std::vector<TokenGrant>> list(std::string_view subject, core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kGrantList, {b_->key("gu:", subject)},
                                    {b_->opts.prefix, std::to_string(ms(now))}));
    std::vector<TokenGrant> out;
    for (const auto& e : r.elements) {
      if (e.elements.size() != 6) return corrupt("grant list");
      CG_TRY(TokenGrant g, grant_of(e.elements[0].str, e.elements, 1));
      out.push_back(std::move(g));
    }
    std::sort(out.begin(), out.end(), [](const TokenGrant& a, const TokenGrant& b) {
      return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    return out;
  }

  Result<size_t> purge_expired(core::WallTime now) override {
    CG_TRY(Reply r, b_->client.eval(kGrantPurge, {b_->key("gx", "")},
                                    {std::to_string(ms(now)), b_->opts.prefix}));
    return static_cast<size_t>(r.integer);
  }

 private:
  // The grant from {d, gen, lu, ra, rr} at `at` in `f`; the immutable part parsed once per id.
  Result<TokenGrant> grant_of(const std::string& id, const std::vector<Reply>& f, size_t at) {
    std::shared_ptr<const TokenGrant> base;
    {
      std::lock_guard lock(mu_);
      if (auto it = parsed_.find(id); it != parsed_.end()) base = it->second;
    }
    if (!base) {
      auto parsed = TokenGrant::from_json(f[at].str);
      if (!parsed) return corrupt("grant " + id.substr(0, 8));
      base = std::make_shared<const TokenGrant>(std::move(*parsed));
      std::lock_guard lock(mu_);
      if (parsed_.size() >= b_->opts.cache_entries) parsed_.clear();
      parsed_[id] = base;
    }
    TokenGrant g = *base;
    g.generation = static_cast<uint64_t>(to_int(f[at + 1]));
    g.last_used = from_ms(to_int(f[at + 2]));
    g.revoked_at = from_ms(to_int(f[at + 3]));
    g.revoked_reason = f[at + 4].str;
    return g;
  }

  std::shared_ptr<RedisBackend> b_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TokenGrant>> parsed_;
};

}  // namespace

Result<RedisStores> open_redis_stores(RedisStoreOptions o, const core::Clock& clock) {
  RedisStores s;
  s.backend = std::make_shared<RedisBackend>(std::move(o), clock);
  if (!s.backend->client.setup_error().empty()) {
    return fail(storage::Code::kRedis, "Redis at " + s.backend->opts.redis.describe() + ": " +
                                           s.backend->client.setup_error());
  }
  s.backend->start();
  s.sessions = std::make_unique<RedisSessionStore>(s.backend);
  s.tickets = std::make_unique<RedisTicketStore>(s.backend);
  s.tokens = std::make_unique<RedisTokenStore>(s.backend);
  return s;
}

RedisStatus redis_status(const RedisBackend& b) {
  RedisStatus s;
  s.subscribed = b.subscribed.load();
  if (auto since = b.client.down_since()) {
    s.down_for = std::chrono::duration<double>(Steady::now() - *since).count();
  }
  s.view_hits = b.hits.load();
  s.view_misses = b.misses.load();
  s.grace_hits = b.grace_hits.load();
  s.invalidations = b.invalidations.load();
  s.resyncs = b.resyncs.load();
  return s;
}

Status redis_publish(RedisBackend& b, std::string_view kind, std::string_view payload) {
  CG_CHECK(b.client.command(
      {"PUBLISH", b.channel, "x " + std::string(kind) + " " + std::string(payload)}));
  return {};
}

redis::Client& redis_client(RedisBackend& b) { return b.client; }
const std::string& redis_prefix(const RedisBackend& b) { return b.opts.prefix; }

void redis_on_event(RedisBackend& b,
                    std::function<void(std::string_view, std::string_view)> handler) {
  std::lock_guard lock(b.event_mu);
  b.on_event = std::move(handler);
}

bool redis_wait_subscribed(RedisBackend& b, std::chrono::milliseconds wait) {
  auto until = Steady::now() + wait;
  while (!b.subscribed.load()) {
    if (Steady::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace cg::session
