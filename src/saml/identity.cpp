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
    if (!a.idp_name.empty() && a.idp_name == name) return &a;
  for (const auto& a : attributes)
    if (!a.alias.empty() && a.alias == name) return &a;
  return nullptr;
}

namespace {

std::string arrived_names(const Identity& id) {
  std::string arrived;
  for (const auto& a : id.attributes) {
    if (!arrived.empty()) arrived += ", ";
    arrived += a.idp_name.empty() ? a.name : a.idp_name + " as " + a.name;
    if (!a.friendly_name.empty() && a.friendly_name != a.name)
      arrived += " (" + a.friendly_name + ")";
  }
  return arrived.empty() ? "none" : arrived;
}

}  // namespace

bool name_id_usable_as_user_id(std::string_view format) {
  return format.empty() || format == kNameIdPersistent || format == kNameIdEmail ||
         format == kNameIdUnspecified;
}

void apply_attribute_map(Identity& id,
                         const std::vector<std::pair<std::string, std::string>>& map) {
  for (auto& a : id.attributes) {
    for (const auto& [from, to] : map) {
      if (from != a.name && (a.friendly_name.empty() || from != a.friendly_name)) continue;
      if (a.name == to) break;
      a.idp_name = a.name;
      a.name = to;
      std::string_view alias = claim_alias(to);
      a.alias = alias.empty() ? std::string() : std::string(alias);
      break;
    }
  }
}

Result<std::string> derive_user_id(const Identity& id, const std::vector<UserIdSource>& sources,
                                   std::string_view config_key) {
  std::string tried;
  auto note = [&](std::string s) { tried += (tried.empty() ? "" : "; ") + std::move(s); };
  for (const auto& src : sources) {
    if (src.name == "nameid") {
      if (id.name_id.empty()) {
        note("nameid: none sent");
      } else if (!name_id_usable_as_user_id(id.name_id_format)) {
        note("nameid: its format " + id.name_id_format +
             " is not persistent, emailAddress or unspecified, so it is not the same at every "
             "sign-in");
      } else {
        return id.name_id;
      }
      continue;
    }
    const Attribute* a = id.find(src.name);
    for (size_t i = 0; !a && i < src.also.size(); ++i) a = id.find(src.also[i]);
    std::string label = "'" + src.name + "'";
    if (!src.also.empty()) {
      std::string also;
      for (const auto& o : src.also) also += (also.empty() ? "" : ", ") + o;
      label += " (or " + also + ")";
    }
    if (!a) {
      note(label + ": not sent");
      continue;
    }
    for (const auto& v : a->values)
      if (!v.empty()) return v;
    note(label + ": sent with no value");
  }
  if (sources.empty()) note("no source is configured");
  std::string from = id.idp_entity_id.empty() ? "" : " from " + id.idp_entity_id;
  return fail(make_error(Code::kNoUserId,
                    "the response" + from + " carries no user id: " + tried +
                        ". Attributes that arrived: " + arrived_names(id) + " (NameID format " +
                        (id.name_id_format.empty() ? "none" : id.name_id_format) +
                        "). Have the IdP send one of these attributes (or a persistent NameID), "
                        "or list an attribute it sends in " + std::string(config_key)));
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
  std::string arrived = arrived_names(id);
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
