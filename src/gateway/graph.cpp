// Entra ID groups overage: when a user is in more groups than fit in a token, Entra ID sends
// http://schemas.microsoft.com/claims/groups.link instead of the groups. With Graph
// credentials for the IdP, the gateway reads the user's groups from Microsoft Graph (an
// application token by client credentials, then getMemberGroups for the user's object id from
// the signed assertion) and gives the session the groups claim the assertion would have had.
#include "gateway/graph.h"

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/time.h"
#include "gateway/errors.h"
#include "http/client.h"

namespace cg::gateway {
namespace {

using json = nlohmann::json;

constexpr auto kTimeout = std::chrono::seconds(5);
constexpr const char* kObjectId = "http://schemas.microsoft.com/identity/claims/objectidentifier";

// Graph's own words for a failure: {"error": {"code", "message"}} or OAuth's
// {"error", "error_description"}.
std::string graph_error(const http::FetchResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  std::string out = "HTTP " + std::to_string(r.status);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object()) {
      out += ": " + e.value("code", "") + " " + e.value("message", "");
    } else if (e.is_string()) {
      out += ": " + e.get<std::string>();
      if (j.contains("error_description") && j["error_description"].is_string())
        out += " " + j["error_description"].get<std::string>();
    }
  }
  return core::clip(out, 300);
}

}  // namespace

GraphGroups::GraphGroups(saml::GraphConfig cfg, const core::Clock& clock)
    : cfg_(std::move(cfg)), clock_(clock) {}

http::awaitable<Result<std::string>> GraphGroups::token() {
  auto now = clock_.now();
  {
    // Held only to read or write the cache, never across the fetch: two sign-ins that find
    // no token both fetch one (the later one is kept).
    std::lock_guard lock(mu_);
    if (!token_.empty() && now + std::chrono::minutes(1) < token_expires_) co_return token_;
  }
  http::FetchRequest req;
  req.method = "POST";
  req.url = cfg_.token_url;
  req.ca_file = cfg_.ca_file;
  req.timeout = kTimeout;
  req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  req.body = "grant_type=client_credentials&client_id=" + core::url_encode(cfg_.client_id) +
             "&client_secret=" + core::url_encode(cfg_.client_secret) +
             "&scope=" + core::url_encode(cfg_.api_url + "/.default");
  auto fetched = co_await http::fetch_async(std::move(req));
  if (!fetched) co_return fail(fetched.take_error());
  auto& res = *fetched;
  if (res.status != 200) {
    co_return fail(Code::kGraph, "the token endpoint " + cfg_.token_url + " refused the client " +
                                     cfg_.client_id + ": " + graph_error(res));
  }
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string()) {
    co_return fail(Code::kGraph, "the token endpoint " + cfg_.token_url + " sent no access_token");
  }
  std::string token = j["access_token"].get<std::string>();
  int64_t ttl = j.contains("expires_in") && j["expires_in"].is_number_integer()
                    ? j["expires_in"].get<int64_t>()
                    : 300;
  std::lock_guard lock(mu_);
  token_ = token;
  token_expires_ = now + core::seconds_from_outside(ttl);
  co_return token;
}

http::awaitable<Result<std::vector<std::string>>> GraphGroups::member_groups(
    const saml::Identity& id) {
  std::string oid;
  if (const auto* a = id.find(kObjectId); a && !a->values.empty()) oid = a->values.front();
  if (oid.empty()) {
    co_return fail(Code::kGraph, "the assertion carries no object id (" + std::string(kObjectId) +
                                     ") to look the groups up by");
  }
  for (char ch : oid) {
    bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
              ch == '-';
    if (!ok)
      co_return fail(Code::kGraph, "the object id '" + core::clip(oid, 40) + "' is not a GUID");
  }
  auto bearer = co_await token();
  if (!bearer) co_return fail(bearer.take_error());
  http::FetchRequest req;
  req.method = "POST";
  req.url = cfg_.api_url + "/v1.0/users/" + oid + "/getMemberGroups";
  req.ca_file = cfg_.ca_file;
  req.timeout = kTimeout;
  req.headers.push_back({"Authorization", "Bearer " + *bearer});
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = json{{"securityEnabledOnly", cfg_.security_enabled_only}}.dump();
  auto fetched = co_await http::fetch_async(std::move(req));
  if (!fetched) co_return fail(fetched.take_error());
  auto& res = *fetched;
  if (res.status == 401) {
    std::lock_guard lock(mu_);
    token_.clear();  // fetched again next time
  }
  if (res.status != 200) {
    co_return fail(Code::kGraph, "Microsoft Graph did not give the groups of " + oid + ": " +
                                     graph_error(res) +
                                     " (the application needs GroupMember.Read.All)");
  }
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("value") || !j["value"].is_array()) {
    co_return fail(Code::kGraph, "Microsoft Graph answered getMemberGroups without a value list");
  }
  std::vector<std::string> groups;
  for (const auto& v : j["value"]) {
    if (v.is_string()) groups.push_back(v.get<std::string>());
  }
  co_return groups;
}

}  // namespace cg::gateway
