// What a validated assertion says about the user: read only from the verified element.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace cg::saml {

struct Attribute {
  std::string name;           // Name as sent (a URI for Entra ID / ADFS, urn:oid:... for others)
  std::string friendly_name;  // FriendlyName, when sent
  std::string alias;  // the well-known short name claimgate recognises ("groups", "email"), or ""
  std::vector<std::string> values;
  // The Name the IdP sent, when saml.idps[].attribute_map renamed it (name is then the claim
  // name the policy uses); "" otherwise. find() matches it too.
  std::string idp_name = {};
};

struct Identity {
  std::string idp_entity_id;
  std::string name_id;
  std::string name_id_format;
  std::string name_qualifier;     // NameID NameQualifier, when sent (kept for Single Logout)
  std::string sp_name_qualifier;  // NameID SPNameQualifier, when sent
  std::string session_index;
  std::string response_id;  // as received: signed only when response_signed
  std::string assertion_id;
  std::string in_response_to;  // from the accepted bearer confirmation (signed)
  std::string authn_context_class;
  core::WallTime issue_instant{};
  core::WallTime authn_instant{};
  core::WallTime not_on_or_after{};  // the earliest of the assertion's own limits
  std::optional<core::WallTime> session_not_on_or_after;
  std::vector<Attribute> attributes;  // duplicates merged by Name, values in order received
  bool response_signed = false;
  bool assertion_signed = false;
  bool encrypted = false;
  // Entra ID sends a link instead of the groups when a user has too many (the "overage" claim).
  std::optional<std::string> groups_overage_link;

  // Values of the attribute with this Name, FriendlyName or alias; empty when absent.
  std::vector<std::string> values(std::string_view name) const;
  const Attribute* find(std::string_view name) const;
};

// The short name claimgate uses for well-known claim names (Entra ID / ADFS claim URIs, eduPerson
// OIDs), or "" when there is none: "groups", "roles", "email", "name", "given_name",
// "family_name", "upn", "object_id", "tenant_id", "display_name".
std::string_view claim_alias(std::string_view name);

inline constexpr const char* kNameIdTransient =
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
inline constexpr const char* kNameIdPersistent =
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
inline constexpr const char* kNameIdEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
inline constexpr const char* kNameIdUnspecified =
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

// Whether a NameID of this Format names the same person at every sign-in, and so may be the
// user id: persistent, emailAddress, unspecified (or no Format, which means unspecified).
// Transient (a new value at every sign-in) and every other format never are.
bool name_id_usable_as_user_id(std::string_view format);

// Renames attributes as saml.idps[].attribute_map says (the IdP's Name or FriendlyName -> the
// claim name the policy uses): name becomes the claim name, idp_name keeps what was sent, and
// the alias follows the new name. Attributes the map does not name are left as they are.
void apply_attribute_map(Identity& id, const std::vector<std::pair<std::string, std::string>>& map);

// One place the user id may come from (saml.idps[].user_id): "nameid", or an attribute by
// Name, FriendlyName or alias (`also`: the other names the policy's claim aliases give it).
struct UserIdSource {
  std::string name;
  std::vector<std::string> also;
};

// The user id: the first value of the first source that yields a non-empty one, in order.
// "nameid" yields the NameID only when its format is usable (name_id_usable_as_user_id).
// Otherwise 4039 claims.no_user_id naming each source tried (and why it gave nothing) and the
// attributes that arrived (names only, no values).
Result<std::string> derive_user_id(const Identity& id, const std::vector<UserIdSource>& sources,
                                   std::string_view config_key);

inline constexpr const char* kEntraGroupsLink = "http://schemas.microsoft.com/claims/groups.link";

// A claim a sign-in must carry (saml.idps[].required_claims; by default NameID and the claims
// the policy's role bindings read).
struct RequiredClaim {
  // "name_id", or claims (an attribute's Name, FriendlyName or alias) of which one must arrive:
  // the role bindings may read several (groups, or the roles Entra ID sends).
  std::vector<std::string> any_of;
  std::vector<std::string> also;  // other attribute Names that carry them (the policy's aliases)
  std::string why;                // "the role bindings read"
};

// nullopt when the identity carries every required claim (an attribute sent with no value
// counts: the IdP sent it). Otherwise 4036 claims.missing, naming each missing claim, where it
// was looked for and the attributes that did arrive (names only, no values); or 4037
// claims.groups_overage when the missing claim is the groups and Entra ID sent its link
// instead.
std::optional<Error> check_required_claims(const Identity& id,
                                           const std::vector<RequiredClaim>& required);

}  // namespace cg::saml
