#include "session/token.h"

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

std::string TokenGrant::to_json() const {
  nlohmann::json j = {
      {"v", 1},
      {"id", id},
      {"kind", kind},
      {"subject", subject},
      {"agent", agent},
      {"scope", scope},
      {"project", project},
      {"client", client},
      {"created_by", created_by},
      {"secret", secret},
      {"identity", identity ? nlohmann::json::parse(identity->to_json()) : nlohmann::json(nullptr)},
      {"created", to_unix(created)},
      {"expires", to_unix(expires)}};
  return j.dump();
}

Result<TokenGrant> TokenGrant::from_json(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("v", 0) != 1) {
    return fail(Code::kCorrupt, "stored token grant is not a version-1 JSON object");
  }
  try {
    TokenGrant g;
    g.id = j.at("id").get<std::string>();
    g.kind = j.at("kind").get<std::string>();
    g.subject = j.at("subject").get<std::string>();
    g.agent = j.value("agent", "");
    g.scope = j.value("scope", std::vector<std::string>{});
    g.project = j.value("project", "");
    g.client = j.value("client", "");
    g.created_by = j.value("created_by", "");
    g.secret = j.value("secret", "");
    if (j.contains("identity") && j["identity"].is_object()) {
      CG_TRY(Session s, Session::from_json(j["identity"].dump()));
      g.identity = std::make_shared<const Session>(std::move(s));
    }
    g.created = from_unix(j.at("created").get<int64_t>());
    g.expires = from_unix(j.at("expires").get<int64_t>());
    return g;
  } catch (const nlohmann::json::exception& e) {
    return fail(Code::kCorrupt, std::string("stored token grant is missing a field: ") + e.what());
  }
}

}  // namespace cg::session
