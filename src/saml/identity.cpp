#include "saml/identity.h"

#include <array>
#include <utility>

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

}  // namespace cg::saml
