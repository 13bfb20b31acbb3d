// A signed-in person's session, held server-side. The cookie carries only a sealed reference
// to it (session/cookie.h), so claims of any size (hundreds of Entra ID groups) never go into
// a cookie.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace cg::session {

// One attribute of the assertion, as received.
struct Claim {
  std::string name;   // Name as sent (a URI for Entra ID / ADFS)
  std::string alias;  // claimgate's short name ("groups", "email"), or ""
  std::vector<std::string> values;
};

struct Session {
  std::string id;       // 256 random bits, hex; the store's key
  // The user id (saml.idps[].user_id: an attribute, or a NameID that names the same person at
  // every sign-in): X-Claimgate-User, the audit subject, the owner of tokens and jobs.
  std::string subject;
  // The NameID as the IdP sent it, for Single Logout (transient ones included).
  std::string name_id;
  std::string name_id_format;
  std::string name_qualifier;
  std::string sp_name_qualifier;
  std::string idp;            // the configured IdP name
  std::string idp_entity_id;  // its entity id
  std::string session_index;  // for Single Logout
  std::string assertion_id;
  std::vector<Claim> claims;       // every attribute received
  std::vector<std::string> roles;  // from the role mapping at sign-in
  core::WallTime created{};
  core::WallTime authn_instant{};
  core::WallTime expires{};  // absolute: min(ttl, SessionNotOnOrAfter)
  std::chrono::seconds idle_timeout{3600};

  // Values of the claim with this name or alias (all matches, in order).
  std::vector<std::string> values(std::string_view name_or_alias) const;
  // The first value of the claim, or "".
  std::string first(std::string_view name_or_alias) const;

  std::string to_json() const;
  static Result<Session> from_json(std::string_view json);
};

// A session as the store holds it: immutable content plus the last time it was used.
struct StoredSession {
  std::shared_ptr<const Session> session;
  core::WallTime last_seen{};
};

// Why a stored session is no longer valid at `now`, or nullopt while it is.
enum class Expiry { kAbsolute, kIdle };
std::optional<Expiry> expiry_at(const StoredSession& s, core::WallTime now);

}  // namespace cg::session
