#include "session/memory_store.h"

#include <algorithm>

#include "session/errors.h"

namespace cg::session {

Status MemorySessionStore::put(const Session& s) {
  std::unique_lock lock(mu_);
  if (sessions_.size() >= max_ && !sessions_.contains(s.id)) {
    return fail(Code::kFull, "the in-memory session store holds its limit of " +
                                 std::to_string(max_) + " sessions");
  }
  sessions_[s.id] = StoredSession{std::make_shared<const Session>(s), s.created};
  return {};
}

Result<std::optional<StoredSession>> MemorySessionStore::get(std::string_view id) {
  std::shared_lock lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) return std::optional<StoredSession>();
  return std::optional<StoredSession>(it->second);
}

Status MemorySessionStore::touch(std::string_view id, core::WallTime last_seen) {
  std::unique_lock lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it != sessions_.end()) it->second.last_seen = std::max(it->second.last_seen, last_seen);
  return {};
}

Result<bool> MemorySessionStore::remove(std::string_view id) {
  std::unique_lock lock(mu_);
  return sessions_.erase(std::string(id)) > 0;
}

Result<std::vector<std::string>> MemorySessionStore::remove_subject(
    std::string_view subject, std::string_view idp,
    const std::vector<std::string>& session_indexes) {
  std::unique_lock lock(mu_);
  std::vector<std::string> removed;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const Session& s = *it->second.session;
    bool match =
        s.subject == subject && (idp.empty() || s.idp == idp) &&
        (session_indexes.empty() || std::find(session_indexes.begin(), session_indexes.end(),
                                              s.session_index) != session_indexes.end());
    if (match) {
      removed.push_back(it->first);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  return removed;
}

Result<size_t> MemorySessionStore::count_active(core::WallTime now) {
  std::shared_lock lock(mu_);
  return static_cast<size_t>(std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& e) {
    return now < e.second.session->expires;
  }));
}

Result<size_t> MemorySessionStore::purge_expired(core::WallTime now) {
  std::unique_lock lock(mu_);
  return static_cast<size_t>(std::erase_if(
      sessions_, [&](const auto& e) { return expiry_at(e.second, now).has_value(); }));
}

size_t MemoryTicketStore::purge_locked(core::WallTime now) {
  return static_cast<size_t>(
      std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; }));
}

Status MemoryTicketStore::put(std::string_view key, std::string_view value,
                              core::WallTime expires) {
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_) {
    return fail(Code::kFull, "the in-memory ticket store holds its limit of " +
                                 std::to_string(max_) + " entries");
  }
  entries_[std::string(key)] = Entry{std::string(value), expires};
  return {};
}

Result<std::optional<std::string>> MemoryTicketStore::peek(std::string_view key,
                                                           core::WallTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end() || it->second.expires <= now) return std::optional<std::string>();
  return std::optional<std::string>(it->second.value);
}

Result<std::optional<std::string>> MemoryTicketStore::take(std::string_view key,
                                                           core::WallTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return std::optional<std::string>();
  Entry e = std::move(it->second);
  entries_.erase(it);
  if (e.expires <= now) return std::optional<std::string>();
  return std::optional<std::string>(std::move(e.value));
}

Result<bool> MemoryTicketStore::insert_once(std::string_view key, core::WallTime expires,
                                            core::WallTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(key));
  if (it != entries_.end() && it->second.expires > now) return false;
  if (it == entries_.end() && entries_.size() >= max_ && purge_locked(now) == 0) {
    // Fail closed: an id we cannot record could be replayed.
    return fail(Code::kFull, "the in-memory ticket store holds its limit of " +
                                 std::to_string(max_) + " entries");
  }
  entries_[std::string(key)] = Entry{"", expires};
  return true;
}

Result<size_t> MemoryTicketStore::purge_expired(core::WallTime now) {
  std::lock_guard lock(mu_);
  return purge_locked(now);
}

Status MemoryTokenStore::put(const TokenGrant& g) {
  std::lock_guard lock(mu_);
  grants_[g.id] = g;
  return {};
}

Result<std::optional<TokenGrant>> MemoryTokenStore::get(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = grants_.find(std::string(id));
  if (it == grants_.end()) return std::optional<TokenGrant>{};
  return std::optional<TokenGrant>{it->second};
}

Result<TokenStore::Advance> MemoryTokenStore::advance(std::string_view id, uint64_t generation,
                                                      core::WallTime now) {
  std::lock_guard lock(mu_);
  auto it = grants_.find(std::string(id));
  if (it == grants_.end()) return Advance::kGone;
  TokenGrant& g = it->second;
  if (g.revoked() || now >= g.expires) return Advance::kGone;
  if (generation == g.generation) {
    ++g.generation;
    g.last_used = now;
    return Advance::kAdvanced;
  }
  if (generation < g.generation) {
    g.revoked_at = now;
    g.revoked_reason = "refresh token reused";
    return Advance::kReused;
  }
  return Advance::kGone;  // a generation never issued: not ours to act on
}

Result<bool> MemoryTokenStore::revoke(std::string_view id, core::WallTime now,
                                      std::string_view reason) {
  std::lock_guard lock(mu_);
  auto it = grants_.find(std::string(id));
  if (it == grants_.end() || it->second.revoked()) return false;
  it->second.revoked_at = now;
  it->second.revoked_reason = std::string(reason);
  return true;
}

Result<std::vector<std::string>> MemoryTokenStore::revoke_subject(std::string_view subject,
                                                                  core::WallTime now,
                                                                  std::string_view reason) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [id, g] : grants_) {
    if (g.subject != subject || g.revoked() || now >= g.expires) continue;
    g.revoked_at = now;
    g.revoked_reason = std::string(reason);
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<TokenGrant>> MemoryTokenStore::list(std::string_view subject,
                                                       core::WallTime now) {
  std::lock_guard lock(mu_);
  std::vector<TokenGrant> out;
  for (const auto& [id, g] : grants_) {
    if (g.subject == subject && !g.revoked() && now < g.expires) out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const TokenGrant& a, const TokenGrant& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

Result<size_t> MemoryTokenStore::purge_expired(core::WallTime now) {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(
      std::erase_if(grants_, [&](const auto& e) { return now >= e.second.expires; }));
}

}  // namespace cg::session
