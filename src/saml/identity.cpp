#include "saml/identity.h"

#include <array>
#include <utility>

#include "saml/errors.h"

namespace cg::saml {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 24> kAliases{{
    // Microsoft Entra ID / ADFS claim types
    {"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups"},
    {"http://schemas.xmlsoap.org/claims/Group", "groups"},
    {"http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "roles"},
    {"http://schemas.microsoft.com/ws/2008/06/identity/claims/wids", "roles"},
    {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "email"},
    {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "name"},
    {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "given_name"},
    {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "family_name"},
    {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn"},
    {"http://schemas.microsoft.com/identity/claims/objectidentifier", "object_id"},
    {"http://schemas.microsoft.com/identity/claims/tenantid", "tenant_id"},
    {"http://schemas.microsoft.com/identity/claims/displayname", "display_name"},
    // eduPerson / inetOrgPerson OIDs (Shibboleth, Keycloak, pysaml2 with URI names)
    {"urn:oid:0.9.2342.19200300.100.1.3", "email"},
    {"urn:oid:2.5.4.42", "given_name"},
    {"urn:oid:2.5.4.4", "family_name"},
    {"urn:oid:2.16.840.1.113730.3.1.241", "display_name"},
    {"urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "entitlements"},
    {"urn:oid:1.3.6.1.4.1.5923.1.5.1.1", "groups"},
    {"urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "affiliation"},
    {"urn:oid:0.9.2342.19200300.100.1.1", "uid"},
    // Plain names several IdPs (Okta, Google, Keycloak) use
    {"groups", "groups"},
    {"roles", "roles"},
    {"email", "email"},
    {"mail", "email"},
}};

}  // namespace

std::string_view claim_alias(std::string_view name) {
  for (const auto& [k, v] : kAliases)
    if (k == name) return v;
  return {};
}

const Attribute* Identity::find(std::string_view name) const {
  for (const auto& a : attributes)
    if (a.name == name) return &a;
  for (const auto& a : attributes)
    if (!a.friendly_name.empty() && a.friendly_name == name) return &a;
  for (const auto& a : attributes)
    if (!a.alias.empty() && a.alias == name) return &a;
  return nullptr;
}

std::vector<std::string> Identity::values(std::string_view name) const {
  const Attribute* a = find(name);
  return a ? a->values : std::vector<std::string>{};
}

std::optional<Error> check_required_claims(const Identity& id,
                                           const std::vector<RequiredClaim>& required) {
  std::vector<const RequiredClaim*> missing;
  for (const auto& r : required) {
    bool found = false;
    for (const auto& name : r.any_of) {
      found = found || (name == "name_id" ? !id.name_id.empty() : id.find(name) != nullptr);
    }
    for (const auto& other : r.also) found = found || id.find(other) != nullptr;
    if (!found) missing.push_back(&r);
  }
  if (missing.empty()) return std::nullopt;
  auto quote = [](std::string_view s) { return "'" + std::string(s) + "'"; };
  std::string arrived;
  for (const auto& a : id.attributes) {
    if (!arrived.empty()) arrived += ", ";
    arrived += a.name;
    if (!a.friendly_name.empty() && a.friendly_name != a.name)
      arrived += " (" + a.friendly_name + ")";
  }
  if (arrived.empty()) arrived = "none";
  std::string what;
  bool groups_overage = false;
  for (const auto* r : missing) {
    if (!what.empty()) what += "; ";
    if (r->any_of.size() == 1 && r->any_of.front() == "name_id") {
      what += "no NameID";
    } else {
      std::string names;
      for (const auto& n : r->any_of) {
        names += (names.empty() ? "" : ", ") + quote(n);
        groups_overage = groups_overage || (n == "groups" && id.groups_overage_link);
      }
      what += r->any_of.size() == 1 ? "no " + names + " claim" : "none of the claims " + names;
      std::string where;
      for (const auto& other : r->also) where += (where.empty() ? "" : ", ") + other;
      if (!where.empty()) what += " (nor " + where + ")";
    }
    if (!r->why.empty()) what += ", which " + r->why;
  }
  std::string from = id.idp_entity_id.empty() ? "" : " from " + id.idp_entity_id;
  if (groups_overage) {
    return make_error(
        Code::kGroupsOverage,
        "the response" + from + " carries " + what + ": Entra ID sent a link to the groups (" +
            kEntraGroupsLink +
            ") instead, because the user is in more groups than fit in a token. Assign the "
            "groups to the enterprise application (Token configuration: groups assigned to the "
            "application), or give this IdP Microsoft Graph credentials (saml.idps[].graph) so "
            "that the gateway reads them");
  }
  return make_error(Code::kClaimsMissing,
                    "the response" + from + " carries " + what + ". Attributes that arrived: " +
                        arrived + " (NameID " + (id.name_id.empty() ? "none" : quote(id.name_id)) +
                        "). Add the missing attribute to the IdP's assertion for this "
                        "application, or set saml.idps[].required_claims");
}

}  // namespace cg::saml
