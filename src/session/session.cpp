#include "session/session.h"

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "session/errors.h"

namespace cg::session {
namespace {

int64_t to_unix(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
core::WallTime from_unix(int64_t s) { return core::from_unix_seconds(s); }

}  // namespace

std::vector<std::string> Session::values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& c : claims) {
    if (c.name == name || (!c.alias.empty() && c.alias == name)) {
      out.insert(out.end(), c.values.begin(), c.values.end());
    }
  }
  return out;
}

std::string Session::first(std::string_view name) const {
  for (const auto& c : claims) {
    if ((c.name == name || (!c.alias.empty() && c.alias == name)) && !c.values.empty()) {
      return c.values.front();
    }
  }
  return "";
}

std::string Session::to_json() const {
  nlohmann::json claims_json = nlohmann::json::array();
  for (const auto& c : claims) {
    claims_json.push_back({{"name", c.name}, {"alias", c.alias}, {"values", c.values}});
  }
  nlohmann::json j = {{"v", 1},
                      {"id", id},
                      {"subject", subject},
                      {"name_id", name_id},
                      {"name_id_format", name_id_format},
                      {"name_qualifier", name_qualifier},
                      {"sp_name_qualifier", sp_name_qualifier},
                      {"idp", idp},
                      {"idp_entity_id", idp_entity_id},
                      {"session_index", session_index},
                      {"assertion_id", assertion_id},
                      {"claims", claims_json},
                      {"roles", roles},
                      {"created", to_unix(created)},
                      {"authn_instant", to_unix(authn_instant)},
                      {"expires", to_unix(expires)},
                      {"idle_timeout", idle_timeout.count()}};
  return j.dump();
}

Result<Session> Session::from_json(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("v", 0) != 1) {
    return fail(Code::kCorrupt, "stored session is not a version-1 JSON object");
  }
  try {
    Session s;
    s.id = j.at("id").get<std::string>();
    s.subject = j.at("subject").get<std::string>();
    // Sessions stored before the user id was derived: the subject was the NameID.
    s.name_id = j.value("name_id", s.subject);
    s.name_id_format = j.value("name_id_format", "");
    s.name_qualifier = j.value("name_qualifier", "");
    s.sp_name_qualifier = j.value("sp_name_qualifier", "");
    s.idp = j.value("idp", "");
    s.idp_entity_id = j.value("idp_entity_id", "");
    s.session_index = j.value("session_index", "");
    s.assertion_id = j.value("assertion_id", "");
    for (const auto& c : j.at("claims")) {
      s.claims.push_back(Claim{c.at("name").get<std::string>(), c.value("alias", ""),
                               c.at("values").get<std::vector<std::string>>()});
    }
    s.roles = j.at("roles").get<std::vector<std::string>>();
    s.created = from_unix(j.at("created").get<int64_t>());
    s.authn_instant = from_unix(j.value("authn_instant", int64_t{0}));
    s.expires = from_unix(j.at("expires").get<int64_t>());
    s.idle_timeout = std::chrono::seconds(j.at("idle_timeout").get<int64_t>());
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail(Code::kCorrupt, std::string("stored session is missing a field: ") + e.what());
  }
}

std::optional<Expiry> expiry_at(const StoredSession& s, core::WallTime now) {
  if (now >= s.session->expires) return Expiry::kAbsolute;
  if (now >= s.last_seen + s.session->idle_timeout) return Expiry::kIdle;
  return std::nullopt;
}

}  // namespace cg::session
