// Tokens for people outside the browser (docs/tokens.md):
//   /.claimgate/cli/authorize   the loopback flow: a signed-in browser hands a one-time code to
//                               `claimgate login` on 127.0.0.1, bound to its PKCE challenge
//   /.claimgate/cli/device      the device flow: a short code a signed-in person enters at
//   /.claimgate/device          this page
//   /.claimgate/cli/token       codes, device codes and refresh tokens -> access + refresh token
//   /.claimgate/cli/revoke      `claimgate logout`: the refresh-token family ends
//   /.claimgate/tokens[/{id}]   agent tokens: create, list, revoke
//   /.claimgate/admin/revoke    everything of one person ends (needs sessions:revoke)
// and the Bearer check every route makes (load_bearer) with the agent-scope limit.
#include <nlohmann/json.hpp>
#include <regex>
#include <unordered_map>

#include "audit/errors.h"
#include "core/encoding.h"
#include "core/time.h"
#include "crypto/errors.h"
#include "crypto/keys.h"
#include "gateway/gateway.h"
#include "gateway/internal/request.h"
#include "http/url.h"

namespace cg::gateway {

namespace bhttp = http::bhttp;
using http::awaitable;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kCodeLifetime = 60s;
constexpr std::string_view kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
// Letters that are not easily confused and spell no words (no vowels).
constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";

std::string b64url_random(core::Random& random, size_t n) {
  return core::base64url_encode(random.bytes(n));
}

std::string sha256_b64url(std::string_view s) {
  auto h = crypto::sha256(s);
  return core::base64url_encode(std::span<const uint8_t>(h.data(), h.size()));
}

// "ABCD-EFGH" (and "abcd efgh", "ABCDEFGH") -> "ABCDEFGH".
std::string normalise_user_code(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (c == '-' || c == ' ') continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool valid_agent_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string oauth_error_json(const std::string& oauth_error, const Error& e,
                             const std::string& request_id) {
  return json{{"error", oauth_error},
              {"error_description", e.message},
              {"code", e.code},
              {"name", e.name},
              {"request_id", request_id}}
             .dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n";
}

json grant_json(const session::TokenGrant& g, bool current) {
  json j = {{"id", g.id},
            {"kind", g.kind},
            {"client", g.client},
            {"created", core::format_datetime(g.created)},
            {"expires", core::format_datetime(g.expires)},
            {"last_used", core::format_datetime(g.last_used)},
            {"current", current}};
  if (g.kind == "agent") {
    j["agent"] = g.agent;
    j["scope"] = g.scope;
    j["project"] = g.project;
  }
  return j;
}

// The grant id and generation a refresh token names ("cgr1.<grant>.<generation>.<mac>"), or
// nullopt when it does not have that shape. Whether it is genuine is refresh_token()'s to say.
struct RefreshName {
  std::string grant;
  uint64_t generation = 0;
};
std::optional<RefreshName> parse_refresh_token(std::string_view token) {
  if (!token.starts_with("cgr1.")) return std::nullopt;
  token.remove_prefix(5);
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view gen = token.substr(a + 1, b - a - 1);
  if (a == 0 || gen.empty() || gen.size() >= 12 ||
      gen.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return RefreshName{std::string(token.substr(0, a)), std::stoull(std::string(gen))};
}

// A JSON object from stored or received text (null when it is none).
json object_of(const std::optional<std::string>& text) {
  if (!text) return json();
  auto j = json::parse(*text, nullptr, false);
  return j.is_object() ? j : json();
}

std::string field(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

std::string code_ticket_json(const std::string& session_id, const std::string& challenge,
                             const std::string& redirect_uri, const std::string& client) {
  return json{{"session", session_id},
              {"challenge", challenge},
              {"redirect_uri", redirect_uri},
              {"client", core::clip(client, 120)}}
      .dump();
}

std::string device_ticket_json(const std::string& user_code, const std::string& client,
                               const std::string& address, core::WallTime now) {
  return json{{"user_code", user_code},
              {"client", core::clip(client, 120)},
              {"address", address},
              {"requested", core::format_datetime(now)}}
      .dump();
}

std::string device_reply_json(const std::string& device_code, const std::string& shown,
                              const std::string& page, std::chrono::seconds ttl,
                              std::chrono::seconds interval) {
  return json{{"device_code", device_code}, {"user_code", shown},
              {"verification_uri", page},   {"verification_uri_complete", page + "?code=" + shown},
              {"expires_in", ttl.count()},  {"interval", interval.count()}}
             .dump() +
         "\n";
}

policy::Decision signin_needed() {
  policy::Decision d;
  d.reason = policy::Reason::kUnauthenticated;
  d.rule = "tokens";
  d.detail = "sign-in required";
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Issuing

audit::Event Gateway::token_event(std::string_view type, const Request& r,
                                  const session::TokenGrant& g) const {
  audit::Event ev = event(type, r);
  ev.str("token_id", g.id).str("kind", g.kind).str("subject", g.subject);
  if (g.kind == "agent") {
    ev.str("actor", "agent:" + g.agent)
        .str("on_behalf_of", g.subject)
        .str("scope", core::join(g.scope, ","))
        .str("project", g.project);
  }
  ev.str("created_by", g.created_by).time("expires", g.expires).str("client", g.client);
  return ev;
}

awaitable<Result<std::string>> Gateway::issue_cli_grant(Request& r, const session::Session& person,
                                                        std::string client, std::string created_by,
                                                        audit::AuditLog::Ticket* ticket) {
  auto now = clock_.now();
  session::TokenGrant g;
  g.id = core::hex_encode(random_.bytes(16));
  g.kind = "cli";
  g.subject = person.subject;
  g.client = std::move(client);
  g.created_by = std::move(created_by);
  g.secret = keyring_.seal(b64url_random(random_, 32), "token-family:" + g.id, random_);
  auto identity = std::make_shared<session::Session>(person);
  identity->id = "token:" + g.id;  // the web session's id never goes into a token grant
  g.created = now;
  g.expires = now + cfg_.tokens.refresh_lifetime;
  identity->expires = g.expires;
  g.identity = std::move(identity);
  g.last_used = now;
  // Made before the grant is stored: a login whose tokens cannot be made is not kept.
  auto reply = minter_.token_json(g, now, 0);
  if (!reply) co_return fail(reply.take_error());
  if (auto put = co_await store_call(stores_.tokens.get(), &session::TokenStore::put, g); !put) {
    co_return fail(put.take_error());
  }
  *ticket = audit(token_event(audit::type::kTokenIssued, r, g), audit::Durability::kDurable);
  log_.info(r.ex.log_context(), "token.issued",
            {{"id", g.id}, {"kind", "cli"}, {"subject", g.subject}, {"client", g.client}});
  co_return std::move(*reply);
}

// ---------------------------------------------------------------------------------------------
// The Bearer check

awaitable<void> Gateway::load_session(Request& r) {
  co_await load_cookie_session(r);
  if (r.session) co_return;  // a valid cookie decides; an Authorization header is then the route's
  auto auth = r.ex.header(bhttp::field::authorization);
  if (auth.size() < 7 || !http::beast::iequals(auth.substr(0, 7), "Bearer ")) co_return;
  std::string_view token = auth.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  co_await load_bearer(r, token);
}

awaitable<void> Gateway::load_bearer(Request& r, std::string_view token) {
  auto now = clock_.now();
  std::string kind = "unknown";  // what the token turned out to be, for metrics
  auto refuse = [&](Code c, std::string message) {
    metrics_.tokens_refused.inc({kind, code_name(c)});
    r.token_error = make_error(c, std::move(message));
    log_.info(r.ex.log_context(), "token.refused", {{"message", r.token_error->message}});
  };
  if (!cfg_.tokens.enabled) {
    refuse(Code::kTokensDisabled,
           "this gateway does not accept Bearer tokens (tokens.enabled "
           "is false); sign in with a browser");
    co_return;
  }
  if (token.starts_with("cgr1.")) {
    kind = "refresh";
    refuse(Code::kTokenInvalid,
           "that is a refresh token; send the access token `claimgate token` prints");
    co_return;
  }
  std::string token_key(token);
  VerifiedBearer vt;
  if (auto hit = bearer_cache_.get(token_key, now)) {
    vt = std::move(*hit);
  } else {
    crypto::JwtExpectations expect{cfg_.jwt_issuer, "", 30s};
    auto claims = token_verifier_.verify(token, now, expect);
    if (!claims) {
      const Error& e = claims.error();
      if (e.code == static_cast<int>(crypto::Code::kTokenExpired)) {
        refuse(Code::kTokenExpired,
               "access " + e.message +
                   "; run `claimgate token` for a fresh one (it refreshes), or claimgate login");
      } else if (e.code == static_cast<int>(crypto::Code::kUnknownKey)) {
        refuse(Code::kTokenInvalid, e.message +
                                        ": it was not issued by this gateway, or by a key "
                                        "retired since; run claimgate login");
      } else {
        refuse(Code::kTokenInvalid, e.message + "; run claimgate login");
      }
      co_return;
    }
    vt.use = claims->value("cg_use", "");
    vt.sid = claims->value("sid", "");
    vt.exp = claims->value("exp", int64_t{0});
    bool for_us = claims->contains("aud") && (*claims)["aud"] == cfg_.jwt_issuer;
    if ((vt.use != "access" && vt.use != "agent") || vt.sid.empty() || !for_us) {
      refuse(Code::kTokenInvalid,
             "this token was not issued for calling the gateway (an upstream's identity "
             "assertion?); use the access token `claimgate token` prints");
      co_return;
    }
    // Kept until the token's end (past it, the expiry check below answers).
    bearer_cache_.put(token_key, vt, core::from_unix_seconds(vt.exp) + std::chrono::seconds(30),
                      now);
  }
  kind = vt.use;  // access or agent
  if (core::from_unix_seconds(vt.exp) + std::chrono::seconds(30) <= now) {
    bearer_cache_.erase(token_key);
    refuse(Code::kTokenExpired, "access token expired at " +
                                    core::format_datetime(core::from_unix_seconds(vt.exp)) +
                                    "; run `claimgate token` for a fresh one, or claimgate login");
    co_return;
  }
  auto* tokens = stores_.tokens.get();
  auto call0 = [tokens, sid = vt.sid] { return tokens->get(sid); };
  auto grant = co_await stored(std::move(call0));
  if (!grant) {
    log_.error(r.ex.log_context(), "token.store_failed", {{"message", grant.error().message}});
    refuse(Code::kStoreUnavailable, "the gateway cannot check tokens right now; try again");
    co_return;
  }
  if (!*grant) {
    refuse(Code::kTokenRevoked,
           "this token's login no longer exists on the gateway (expired and purged, or the "
           "gateway's store was reset); run claimgate login");
    co_return;
  }
  const session::TokenGrant& g = **grant;
  if (g.revoked()) {
    refuse(Code::kTokenRevoked, std::string(g.kind == "agent" ? "agent token" : "login") + " " +
                                    g.id + " was revoked at " +
                                    core::format_datetime(g.revoked_at) + " (" + g.revoked_reason +
                                    "); run claimgate login");
    co_return;
  }
  if (now >= g.expires) {
    refuse(Code::kTokenExpired, std::string(g.kind == "agent" ? "agent token" : "login") +
                                    " expired at " + core::format_datetime(g.expires) +
                                    "; run claimgate login");
    co_return;
  }
  if ((g.kind == "agent") != (vt.use == "agent") || !g.identity) {
    refuse(Code::kTokenInvalid, "token and grant do not match; run claimgate login");
    co_return;
  }
  r.token = std::make_shared<const session::TokenGrant>(g);
  r.session = session::StoredSession{g.identity, now};
  r.user = g.subject;
  if (g.kind == "agent") r.user = "agent:" + g.agent + "@" + g.subject;
}

void Gateway::limit_agent(const Request& r, policy::Decision& d) const {
  if (!r.agent() || !d.allowed() || d.reason == policy::Reason::kPublic) return;
  const session::TokenGrant& g = *r.token;
  std::string scope = core::join(g.scope, ",");
  std::string covers = "agent token '" + g.agent + "' (" + g.id + ") may use " + scope +
                       (g.project.empty() ? " in any project" : " in project '" + g.project + "'");
  auto deny_with = [&](std::string detail) {
    d.effect = policy::Effect::kDeny;
    d.reason = policy::Reason::kAgentScope;
    d.detail = std::move(detail);
  };
  if (d.permission.empty()) {
    deny_with(covers + "; this request needs a person's sign-in (no permission names it)");
    return;
  }
  if (std::find(g.scope.begin(), g.scope.end(), d.permission) == g.scope.end()) {
    deny_with(covers + "; this request needs " + d.permission);
    return;
  }
  if (!g.project.empty() && d.project != g.project) {
    deny_with(
        covers + "; this request is in " +
        (d.project.empty() ? std::string("no single project") : "project '" + d.project + "'"));
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

awaitable<void> Gateway::send_token_error(Request& r, unsigned status, std::string oauth_error,
                                          const Error& e) {
  log_.info(r.ex.log_context(), "token.endpoint_error",
            {{"error", oauth_error}, {"message", e.message}});
  http::StringResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = oauth_error_json(oauth_error, e, r.ex.request_id());
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::cli_authorize(Request& r) {
  // GET: the CLI's link. Checked, then (signed in) a consent page names who asks, where the
  // code goes and what it gets. POST: the person's answer on that page.
  bool answer = r.ex.method() == bhttp::verb::post;
  std::string body;
  if (answer) {
    auto b = co_await r.ex.read_body(64 * 1024);
    if (b) body = std::move(*b);
  }
  co_await load_cookie_session(r);
  if (answer && co_await refused_cross_site(r)) co_return;
  auto now = clock_.now();
  json request;  // redirect_uri, state, code_challenge, client
  if (answer) {
    std::vector<core::QueryParam> form;
    if (auto f = core::parse_query(body)) form = std::move(*f);
    auto opened = keyring_.open(param(form, "request"), "cli-consent");
    json j;
    if (opened) j = object_of(*opened);
    bool fresh = j.is_object() && j.value("expires", int64_t{0}) > unix_seconds(now);
    if (!r.session || !fresh || field(j, "session") != session_ref(r.session_id)) {
      co_await send_error(r, 400, "This sign-in page has expired",
                          make_error(Code::kBadRequest,
                                     "the form was not issued to this browser's session, or is "
                                     "older than 10 minutes; run claimgate login again"));
      co_return;
    }
    request = std::move(j);
  } else {
    auto params = core::parse_query(r.query);
    if (params) {
      request = {{"redirect_uri", param(*params, "redirect_uri")},
                 {"state", param(*params, "state")},
                 {"challenge", param(*params, "code_challenge")},
                 {"method", param(*params, "code_challenge_method")},
                 {"client", core::clip(param(*params, "client"), 120)}};
    }
  }
  // Nothing is ever sent to a redirect that is not a loopback listener; the address the
  // browser is sent to is written from the parsed parts, never pasted from the request.
  std::string problem;
  Result<LoopbackRedirect> redirect_to = parse_loopback_redirect(field(request, "redirect_uri"));
  std::string state = field(request, "state");
  std::string challenge = field(request, "challenge");
  if (!redirect_to) {
    problem = redirect_to.error().message;
  } else if (state.empty() || state.size() > 256 || !header_value_ok(state)) {
    problem = "state is missing, longer than 256 characters, or holds control characters";
  } else if (!answer && (field(request, "method") != "S256" || challenge.size() != 43)) {
    problem =
        "code_challenge must be a base64url SHA-256 (43 characters) with "
        "code_challenge_method=S256";
  }
  if (!problem.empty()) {
    co_await send_error(r, 400, "This sign-in link is not valid",
                        make_error(Code::kBadRequest, problem + "; run claimgate login again"));
    co_return;
  }
  std::string client = field(request, "client");
  if (!r.session) {
    std::string target(r.ex.target());
    co_await redirect(r, 302, "/saml/login?rd=" + core::url_encode(target));
    co_return;
  }
  std::string back = redirect_to->to_string();
  if (!answer) {
    json sealed = {{"session", session_ref(r.session_id)},
                   {"redirect_uri", back},
                   {"state", state},
                   {"challenge", challenge},
                   {"client", client},
                   {"expires", unix_seconds(now + 10min)}};
    auto days = std::chrono::duration_cast<std::chrono::hours>(cfg_.tokens.refresh_lifetime);
    std::string lifetime = std::to_string(days.count()) + " hours";
    if (days.count() >= 48) lifetime = std::to_string(days.count() / 24) + " days";
    http::StringResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    // The form posts here, and its answer redirects to the loopback listener: the page may
    // send a form there and nowhere else.
    res.set("Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://" +
                redirect_to->host + ":" + std::to_string(redirect_to->port) +
                "; frame-ancestors 'none'; base-uri 'none'");
    res.body() = render_cli_consent(
        CliConsent{r.session->session->subject, client, back, lifetime, grants_of(r).roles_joined,
                   keyring_.seal(sealed.dump(), "cli-consent", random_)});
    co_await send(r, std::move(res));
    co_return;
  }
  std::vector<core::QueryParam> form;
  if (auto f = core::parse_query(body)) form = std::move(*f);
  if (param(form, "action") != "approve") {
    log_.info(r.ex.log_context(), "cli_signin.denied", {{"subject", r.user}, {"client", client}});
    co_await redirect(r, 303, back + "?error=access_denied&state=" + core::url_encode(state));
    co_return;
  }
  std::string code = b64url_random(random_, 32);
  std::string value = code_ticket_json(r.session_id, challenge, back, client);
  if (auto st = co_await store_call(stores_.tickets.get(), &session::TicketStore::put,
                                    "cli-code:" + code, value, now + kCodeLifetime);
      !st) {
    co_await send_error(r, 503, "Sign-in is unavailable",
                        make_error(Code::kStoreUnavailable, st.error().message));
    co_return;
  }
  log_.info(r.ex.log_context(), "cli_signin.allowed", {{"subject", r.user}, {"client", client}});
  co_await redirect(r, 303, back + "?code=" + code + "&state=" + core::url_encode(state));
}

awaitable<void> Gateway::cli_device(Request& r) {
  auto body = co_await r.ex.read_body(64 * 1024);
  std::string client;
  if (body) {
    if (auto f = core::parse_query(*body)) client = param(*f, "client");
  }
  auto now = clock_.now();
  std::string device_code = b64url_random(random_, 32);
  std::string user_code;
  auto raw = random_.bytes(8);
  for (uint8_t b : raw) user_code += kUserCodeAlphabet[b % kUserCodeAlphabet.size()];
  auto expires = now + cfg_.tokens.device_code_ttl;
  std::string info = device_ticket_json(user_code, client, r.ex.client_address(), now);
  auto a = co_await store_call(stores_.tickets.get(), &session::TicketStore::put,
                               "device:" + device_code, info, expires);
  Status b = a;
  if (a)
    b = co_await store_call(stores_.tickets.get(), &session::TicketStore::put,
                            "device-user:" + user_code, device_code, expires);
  if (!b) {
    co_await send_token_error(r, 503, "temporarily_unavailable",
                              make_error(Code::kStoreUnavailable, b.error().message));
    co_return;
  }
  std::string shown = user_code.substr(0, 4) + "-" + user_code.substr(4);
  std::string page = cfg_.public_url.origin() + "/.claimgate/device";
  std::string reply = device_reply_json(device_code, shown, page, cfg_.tokens.device_code_ttl,
                                        cfg_.tokens.device_poll_interval);
  co_await send_json(r, 200, reply);
}

awaitable<void> Gateway::device_page(Request& r) {
  co_await load_cookie_session(r);
  if (!r.session) {
    std::string target(r.ex.target());
    co_await redirect(r, 302, "/saml/login?rd=" + core::url_encode(target));
    co_return;
  }
  std::string code;
  if (auto p = core::parse_query(r.query)) code = param(*p, "code");
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.body() = render_device_form(
      DeviceForm{r.session->session->subject, core::clip(code, 20),
                 keyring_.seal(session_ref(r.session_id), "device-form", random_), ""});
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::device_submit(Request& r) {
  auto body = co_await r.ex.read_body(64 * 1024);
  co_await load_cookie_session(r);
  if (co_await refused_cross_site(r)) co_return;
  if (!r.session) {
    co_await redirect(r, 303, "/saml/login?rd=" + core::url_encode("/.claimgate/device"));
    co_return;
  }
  std::vector<core::QueryParam> form;
  if (body) {
    if (auto f = core::parse_query(*body)) form = std::move(*f);
  }
  // The form came from this person's page (SameSite cookies already stop other sites).
  auto csrf = keyring_.open(param(form, "csrf"), "device-form");
  if (!csrf || *csrf != session_ref(r.session_id)) {
    co_await send_error(r, 400, "This form has expired",
                        make_error(Code::kBadRequest,
                                   "the form was not issued to this session; open the device "
                                   "page again and enter the code"));
    co_return;
  }
  std::string code = normalise_user_code(param(form, "user_code"));
  bool approve = param(form, "action") != "deny";
  auto now = clock_.now();
  // Wrong codes are limited per session and per client (limits.device_code_failures).
  auto guess = limits_.device_code_allowed(session_ref(r.session_id), r.ex.client_address());
  if (guess.refused) {
    co_await send_limited(r, guess);
    co_return;
  }
  auto dc = co_await store_call(stores_.tickets.get(), &session::TicketStore::take,
                                "device-user:" + code, now);
  std::string device_code;
  if (dc && *dc) device_code = **dc;
  std::optional<std::string> info;
  if (!device_code.empty()) {
    auto peeked = co_await store_call(stores_.tickets.get(), &session::TicketStore::peek,
                                      "device:" + device_code, now);
    if (peeked && *peeked) info = **peeked;
  }
  if (!info) {
    limits_.device_code_wrong(session_ref(r.session_id), r.ex.client_address());
    http::StringResponse res{bhttp::status::bad_request, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = render_device_form(DeviceForm{
        r.session->session->subject, "",
        keyring_.seal(session_ref(r.session_id), "device-form", random_),
        "That code is unknown, expired or already used. Check the code your terminal shows, "
        "or run claimgate login --device again."});
    co_await send(r, std::move(res));
    co_return;
  }
  std::string client = field(object_of(info), "client");
  std::string key = approve ? "device-ok:" : "device-denied:";
  auto put =
      co_await store_call(stores_.tickets.get(), &session::TicketStore::put, key + device_code,
                          r.session_id, now + cfg_.tokens.device_code_ttl);
  if (!put) {
    co_await send_error(r, 503, "Sign-in is unavailable",
                        make_error(Code::kStoreUnavailable, put.error().message));
    co_return;
  }
  log_.info(r.ex.log_context(), "device_code.answered",
            {{"approved", approve}, {"subject", r.user}, {"client", client}});
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  std::string detail = "The request from " + client + " was refused; nothing was signed in.";
  if (approve) {
    detail =
        "Your terminal (" + client + ") is signing in as " + r.user + ". You can close this tab.";
  }
  res.body() = render_device_done(approve, detail);
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::cli_token(Request& r) {
  auto body = co_await r.ex.read_body(64 * 1024);
  std::vector<core::QueryParam> form;
  if (body) {
    if (auto f = core::parse_query(*body)) form = std::move(*f);
  }
  std::string audit_why;
  if (audit_ && !audit_->healthy(&audit_why)) {
    co_await send_token_error(
        r, 503, "temporarily_unavailable",
        make_error(audit::Code::kUnavailable,
                   "the gateway cannot write its audit log (" + audit_why +
                       "), so it issues no tokens until it can; try again later"));
    co_return;
  }
  auto now = clock_.now();
  std::string grant_type = param(form, "grant_type");
  auto invalid = [](std::string m) { return make_error(Code::kGrantInvalid, std::move(m)); };
  // What the grant presents, for claimgate_tokens_refused_total.
  std::string kind = grant_type == "refresh_token"        ? "refresh"
                     : grant_type == "authorization_code" ? "code"
                     : grant_type == kDeviceGrant         ? "device_code"
                                                          : "unknown";
  auto refused = [this, &kind](Error e) {
    metrics_.tokens_refused.inc({kind, e.name});
    return e;
  };

  if (grant_type == "refresh_token") {
    std::string token = param(form, "refresh_token");
    std::optional<RefreshName> name = parse_refresh_token(token);
    uint64_t generation = name ? name->generation : 0;
    Result<std::optional<session::TokenGrant>> grant = std::optional<session::TokenGrant>();
    if (name)
      grant = co_await store_call(stores_.tokens.get(), &session::TokenStore::get, name->grant);
    if (!grant) {
      co_await send_token_error(r, 503, "temporarily_unavailable",
                                make_error(Code::kStoreUnavailable, grant.error().message));
      co_return;
    }
    // A refresh token this gateway cannot recompute (its secret does not open) is not one it
    // can honour: refused like a forged one.
    Result<std::string> expected = std::string();
    if (*grant && (*grant)->kind == "cli") expected = minter_.refresh_token(**grant, generation);
    if (!*grant || (*grant)->kind != "cli" || !expected ||
        !crypto::constant_time_equals(*expected, token)) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(
              invalid("this refresh token is not one this gateway issued; run claimgate login")));
      co_return;
    }
    session::TokenGrant g = std::move(**grant);
    if (g.revoked()) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(invalid("this login was revoked at " + core::format_datetime(g.revoked_at) +
                          " (" + g.revoked_reason + "); run claimgate login")));
      co_return;
    }
    if (now >= g.expires) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(invalid("this login expired at " + core::format_datetime(g.expires) +
                          " (tokens.refresh_lifetime); run claimgate login")));
      co_return;
    }
    // The new tokens are made before the presented one is spent: a mint that fails then leaves
    // the login as it was, so the client's retry with the same refresh token is not a reuse.
    auto reply = minter_.token_json(g, now, generation + 1);
    if (!reply) {
      log_.error(r.ex.log_context(), "token.mint_failed", {{"message", reply.error().message}});
      co_await send_token_error(r, 503, "temporarily_unavailable", refused(reply.error()));
      co_return;
    }
    auto adv = co_await store_call(stores_.tokens.get(), &session::TokenStore::advance, g.id,
                                   generation, now);
    if (!adv) {
      co_await send_token_error(r, 503, "temporarily_unavailable",
                                make_error(Code::kStoreUnavailable, adv.error().message));
      co_return;
    }
    if (*adv == session::TokenStore::Advance::kReused) {
      audit::Event ev = token_event(audit::type::kTokenRevoked, r, g);
      ev.str("by", "gateway")
          .str("reason", "refresh token reused")
          .num("generation_presented", static_cast<int64_t>(generation))
          .str("address", r.ex.client_address());
      co_await durable(audit(std::move(ev), audit::Durability::kDurable));
      // A spent refresh token presented again: the whole login is revoked.
      log_.warn(r.ex.log_context(), "token.refresh_reused",
                {{"id", g.id},
                 {"subject", g.subject},
                 {"generation", generation},
                 {"client", r.ex.client_address()}});
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(
              invalid("this refresh token was already used once, so it may have been copied: every "
                      "token of this login (" +
                      g.id + ") is revoked now; run claimgate login")));
      co_return;
    }
    if (*adv != session::TokenStore::Advance::kAdvanced) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(invalid("this login is no longer valid; run claimgate login")));
      co_return;
    }
    audit::Event ev = token_event(audit::type::kTokenRenewed, r, g);
    ev.num("generation", static_cast<int64_t>(generation + 1));
    audit(std::move(ev), audit::Durability::kBatched);
    metrics_.tokens_refreshed.inc({"cli"});
    co_await send_json(r, 200, *reply);
    co_return;
  }

  // A code (loopback) or an approved device code names a web session: its person gets a
  // login of their own.
  std::string session_id, client, created_by;
  if (grant_type == "authorization_code") {
    std::string code = param(form, "code");
    auto taken = co_await store_call(stores_.tickets.get(), &session::TicketStore::take,
                                     "cli-code:" + code, now);
    std::optional<std::string> value;
    if (taken && *taken) value = **taken;
    json j = object_of(value);
    if (!j.is_object()) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(
              invalid("this sign-in code is unknown, used or older than 60 seconds; run claimgate "
                      "login again")));
      co_return;
    }
    std::string verifier = param(form, "code_verifier");
    if (verifier.size() < 43 || verifier.size() > 128 ||
        !crypto::constant_time_equals(sha256_b64url(verifier), field(j, "challenge")) ||
        param(form, "redirect_uri") != field(j, "redirect_uri")) {
      co_await send_token_error(
          r, 400, "invalid_grant",
          refused(
              invalid("the code_verifier or redirect_uri does not match the sign-in that made this "
                      "code (a code is useless to anyone but the claimgate login that asked)")));
      co_return;
    }
    session_id = field(j, "session");
    client = "claimgate login (browser) " + field(j, "client");
  } else if (grant_type == kDeviceGrant) {
    std::string dc = param(form, "device_code");
    auto ins = co_await store_call(stores_.tickets.get(), &session::TicketStore::insert_once,
                                   "device-poll:" + dc,
                                   now + cfg_.tokens.device_poll_interval - 500ms, now);
    if (ins && !*ins) {
      co_await send_token_error(
          r, 400, "slow_down",
          invalid("polled faster than every " +
                  std::to_string(cfg_.tokens.device_poll_interval.count()) + " seconds"));
      co_return;
    }
    auto denied = co_await store_call(stores_.tickets.get(), &session::TicketStore::take,
                                      "device-denied:" + dc, now);
    if (denied && *denied) {
      (void)co_await store_call(stores_.tickets.get(), &session::TicketStore::take, "device:" + dc,
                                now);
      co_await send_token_error(r, 400, "access_denied",
                                refused(invalid("the request was refused on the device page")));
      co_return;
    }
    auto ok = co_await store_call(stores_.tickets.get(), &session::TicketStore::take,
                                  "device-ok:" + dc, now);
    if (!ok || !*ok) {
      auto pending = co_await store_call(stores_.tickets.get(), &session::TicketStore::peek,
                                         "device:" + dc, now);
      if (pending && *pending) {
        co_await send_token_error(r, 400, "authorization_pending",
                                  invalid("the code has not been entered yet"));
      } else {
        co_await send_token_error(
            r, 400, "expired_token",
            refused(invalid("this device code is unknown or expired; run claimgate login --device "
                            "again")));
      }
      co_return;
    }
    session_id = **ok;
    auto info = co_await store_call(stores_.tickets.get(), &session::TicketStore::take,
                                    "device:" + dc, now);
    std::optional<std::string> info_text;
    if (info && *info) info_text = **info;
    client = "claimgate login --device " + field(object_of(info_text), "client");
  } else {
    co_await send_token_error(
        r, 400, "unsupported_grant_type",
        make_error(Code::kBadRequest, "grant_type must be authorization_code, refresh_token or " +
                                          std::string(kDeviceGrant)));
    co_return;
  }
  auto stored =
      co_await store_call(stores_.sessions.get(), &session::SessionStore::get, session_id);
  if (!stored || !*stored || session::expiry_at(**stored, now)) {
    co_await send_token_error(
        r, 400, "invalid_grant",
        refused(invalid("the browser session that approved this sign-in has ended; run claimgate "
                        "login again")));
    co_return;
  }
  audit::AuditLog::Ticket ticket = 0;
  auto reply = co_await issue_cli_grant(r, *(*stored)->session, core::clip(client, 200),
                                        "session:" + session_ref(session_id), &ticket);
  if (!reply) {
    co_await send_token_error(r, 503, "temporarily_unavailable", reply.error());
    co_return;
  }
  bool recorded = co_await durable(ticket);
  if (!recorded) {
    co_await send_token_error(
        r, 503, "temporarily_unavailable",
        make_error(audit::Code::kUnavailable,
                   "the gateway could not record the new login in its audit log; try again"));
    co_return;
  }
  metrics_.tokens_minted.inc({"cli"});
  co_await send_json(r, 200, *reply);
}

awaitable<void> Gateway::cli_revoke(Request& r) {
  // `claimgate logout`: the login of this refresh token ends (RFC 7009: always 200).
  auto body = co_await r.ex.read_body(64 * 1024);
  std::string token;
  if (body) {
    if (auto f = core::parse_query(*body)) token = param(*f, "token");
  }
  std::optional<RefreshName> name = parse_refresh_token(token);
  Result<std::optional<session::TokenGrant>> grant = std::optional<session::TokenGrant>();
  if (name)
    grant = co_await store_call(stores_.tokens.get(), &session::TokenStore::get, name->grant);
  if (grant && *grant && !(*grant)->revoked()) {
    const session::TokenGrant& g = **grant;
    auto expected = minter_.refresh_token(g, name->generation);
    if (expected && crypto::constant_time_equals(*expected, token)) {
      auto done = co_await store_call(stores_.tokens.get(), &session::TokenStore::revoke, g.id,
                                      clock_.now(), "signed out (claimgate logout)");
      if (done && *done) {
        audit::Event ev = token_event(audit::type::kTokenRevoked, r, g);
        ev.str("by", g.subject).str("reason", "signed out (claimgate logout)");
        co_await durable(audit(std::move(ev), audit::Durability::kDurable));
      }
    }
  }
  co_await send_json(r, 200, "{\"revoked\":true}\n");
}

// ---- Agent tokens and revocation (callers are people: a cookie or their own access token)

awaitable<void> Gateway::tokens_endpoint(Request& r) {
  co_await load_session(r);
  if (!r.session) {
    co_await deny(r, signin_needed());  // (a refused Bearer token: deny() says why)
    co_return;
  }
  if (r.agent()) {
    co_await send_error(r, 403, "Agents cannot manage tokens",
                        make_error(Code::kAgentScope,
                                   "an agent token cannot list, create or revoke tokens; its "
                                   "person does that"));
    co_return;
  }
  if (co_await refused_cross_site(r)) co_return;
  bool is_post = r.ex.method() == bhttp::verb::post;
  if (is_post && r.path == "/.claimgate/admin/revoke") {
    co_await admin_revoke(r);
  } else if (is_post && r.path == "/.claimgate/tokens") {
    co_await tokens_create(r);
  } else if (r.ex.method() == bhttp::verb::get && r.path == "/.claimgate/tokens") {
    co_await tokens_list(r);
  } else if (r.ex.method() == bhttp::verb::delete_ && r.path.starts_with("/.claimgate/tokens/")) {
    co_await tokens_revoke(r);
  } else {
    co_await send_error(r, 405, "Method not allowed",
                        make_error(Code::kBadRequest, std::string(r.ex.method_string()) +
                                                          " is not allowed on " + r.path));
  }
}

awaitable<std::optional<json>> Gateway::read_json(Request& r) {
  // JSON only: a cross-site form cannot send this content type without CORS allowing it, so
  // a cookie-authenticated call here comes from a page of this origin or from a program.
  // (Its callers come through tokens_endpoint, which refused cross-site requests already.)
  std::optional<json> out;
  if (!is_json_media_type(r.ex.header(bhttp::field::content_type))) {
    co_await send_error(
        r, 415, "JSON expected",
        make_error(Code::kBadRequest, std::string(r.ex.method_string()) + " " + r.path +
                                          " takes Content-Type: application/json"));
    co_return out;
  }
  auto body = co_await r.ex.read_body(64 * 1024);
  std::optional<std::string> text;
  if (body) text = std::move(*body);
  out.emplace(object_of(text));
  co_return out;
}

awaitable<void> Gateway::tokens_list(Request& r) {
  auto now = clock_.now();
  auto list = co_await store_call(stores_.tokens.get(), &session::TokenStore::list,
                                  r.session->session->subject, now);
  if (!list) {
    co_await send_error(r, 503, "Tokens are unavailable",
                        make_error(Code::kStoreUnavailable, list.error().message));
    co_return;
  }
  json out = json::array();
  for (const auto& g : *list) out.push_back(grant_json(g, r.token && r.token->id == g.id));
  json body;
  body["subject"] = r.session->session->subject;
  body["tokens"] = std::move(out);
  co_await send_json(r, 200, body.dump(2) + "\n");
}

awaitable<void> Gateway::tokens_create(Request& r) {
  std::optional<json> parsed = co_await read_json(r);
  if (!parsed) co_return;
  json j = std::move(*parsed);
  auto now = clock_.now();
  std::string agent, project, ttl_text;
  std::vector<std::string> scope;
  std::string problem;
  if (!j.is_object()) {
    problem = "the body is not a JSON object";
  } else {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "agent" && it.key() != "scope" && it.key() != "project" &&
          it.key() != "ttl") {
        problem = "unknown field '" + core::clip(it.key(), 40) + "' (agent, scope, project, ttl)";
      }
    }
    if (j.contains("agent") && j["agent"].is_string()) agent = j["agent"].get<std::string>();
    if (j.contains("project") && j["project"].is_string())
      project = j["project"].get<std::string>();
    if (j.contains("ttl") && j["ttl"].is_string()) ttl_text = j["ttl"].get<std::string>();
    if (j.contains("scope") && j["scope"].is_array()) {
      for (const auto& s : j["scope"])
        if (s.is_string()) scope.push_back(s.get<std::string>());
    } else if (j.contains("scope") && j["scope"].is_string()) {
      std::string all = j["scope"].get<std::string>();
      size_t start = 0;
      for (size_t i = 0; i <= all.size(); ++i) {
        if (i == all.size() || all[i] == ',' || all[i] == ' ') {
          if (i > start) scope.push_back(all.substr(start, i - start));
          start = i + 1;
        }
      }
    }
  }
  std::sort(scope.begin(), scope.end());
  scope.erase(std::unique(scope.begin(), scope.end()), scope.end());
  auto ttl = core::parse_duration(ttl_text.empty() ? "1h" : ttl_text);
  const session::Session& person = *r.session->session;
  if (problem.empty() && !valid_agent_name(agent)) {
    problem = "agent must be a name of 1 to 64 letters, digits, '.', '-' or '_'";
  }
  if (problem.empty() && scope.empty()) problem = "scope must list at least one permission";
  if (problem.empty() && (!ttl || *ttl < 60s || *ttl > cfg_.tokens.agent_max_ttl)) {
    problem = "ttl must be a duration from 1m to " +
              std::to_string(cfg_.tokens.agent_max_ttl.count()) + "s (tokens.agent_max_ttl)";
  }
  for (const auto& p : scope) {
    if (problem.empty() && !policy_->knows_permission(p)) {
      problem = "'" + core::clip(p, 60) + "' is not a permission the policy knows";
    }
  }
  if (!problem.empty()) {
    co_await send_error(r, 400, "Bad token request", make_error(Code::kBadRequest, problem));
    co_return;
  }
  // The person must be allowed to make agent tokens there, and hold what they delegate.
  std::string where = "any project";
  if (!project.empty()) where = "project '" + project + "'";
  std::vector<std::string> missing;
  // A token for any project delegates what the person holds in every project (a binding
  // with project "*"); one for a project, what they hold there.
  auto holds = [&](const std::string& permission) {
    return project.empty() ? policy_->holds_everywhere(person, permission)
                           : policy_->holds(person, permission, project);
  };
  if (!holds("tokens:create")) missing.push_back("tokens:create");
  for (const auto& p : scope)
    if (!holds(p)) missing.push_back(p);
  if (!missing.empty()) {
    policy::Decision d;
    d.reason = policy::Reason::kPermissionMissing;
    d.rule = "tokens";
    d.project = project;
    d.permission = missing.front();
    d.detail = "an agent token in " + where +
               " needs you to hold tokens:create and every "
               "permission you delegate; you lack " +
               core::join(missing, ", ") + " there";
    if (project.empty()) d.detail += " (name a project to delegate what you hold in it)";
    co_await deny(r, d);
    co_return;
  }
  session::TokenGrant g;
  g.id = core::hex_encode(random_.bytes(16));
  g.kind = "agent";
  g.subject = person.subject;
  g.agent = agent;
  g.scope = scope;
  g.project = project;
  g.client = core::clip(r.ex.header(bhttp::field::user_agent), 120);
  g.created_by = "session:" + session_ref(r.session_id);
  if (r.token) g.created_by = "token:" + r.token->id;
  auto identity = std::make_shared<session::Session>(person);
  identity->id = "token:" + g.id;
  g.created = now;
  g.expires = now + *ttl;
  identity->expires = g.expires;
  g.identity = std::move(identity);
  g.last_used = now;
  auto put = co_await store_call(stores_.tokens.get(), &session::TokenStore::put, g);
  if (!put) {
    co_await send_error(r, 503, "Tokens are unavailable",
                        make_error(Code::kStoreUnavailable, put.error().message));
    co_return;
  }
  bool recorded = co_await durable(
      audit(token_event(audit::type::kTokenIssued, r, g), audit::Durability::kDurable));
  if (!recorded) {
    (void)co_await store_call(stores_.tokens.get(), &session::TokenStore::revoke, g.id, now,
                              "not recorded in the audit log");
    co_await send_error(r, 503, "The audit log is unavailable",
                        make_error(audit::Code::kUnavailable,
                                   "the gateway could not record the agent token; try again"));
    co_return;
  }
  log_.info(r.ex.log_context(), "token.issued",
            {{"id", g.id},
             {"kind", "agent"},
             {"agent", agent},
             {"subject", g.subject},
             {"scope", core::join(scope, ",")},
             {"project", project}});
  json reply = grant_json(g, false);
  auto minted = minter_.access_token(g, now);
  if (!minted) {
    // Fail closed: the grant is withdrawn, no empty token is answered.
    (void)stores_.tokens->revoke(g.id, now, "its token could not be signed");
    log_.error(r.ex.log_context(), "token.mint_failed", {{"message", minted.error().message}});
    co_await send_error(r, 500, "The token could not be made", minted.error());
    co_return;
  }
  reply["token"] = *minted;
  reply["subject"] = g.subject;
  metrics_.tokens_minted.inc({"agent"});
  co_await send_json(r, 201, reply.dump(2) + "\n");
}

awaitable<void> Gateway::tokens_revoke(Request& r) {
  std::string id = r.path.substr(std::string_view("/.claimgate/tokens/").size());
  auto now = clock_.now();
  auto grant = co_await store_call(stores_.tokens.get(), &session::TokenStore::get, id);
  const session::Session& person = *r.session->session;
  bool visible =
      grant && *grant &&
      ((*grant)->subject == person.subject || policy_->holds_everywhere(person, "sessions:revoke"));
  if (!visible || (*grant)->revoked()) {
    co_await send_error(
        r, 404, "No such token",
        make_error(Code::kNotFound, "you have no live token with id " + core::clip(id, 40)));
    co_return;
  }
  session::TokenGrant g = **grant;
  std::string reason = "revoked by " + person.subject;
  auto done =
      co_await store_call(stores_.tokens.get(), &session::TokenStore::revoke, id, now, reason);
  if (!done) {
    co_await send_error(r, 503, "Tokens are unavailable",
                        make_error(Code::kStoreUnavailable, done.error().message));
    co_return;
  }
  audit::Event ev = token_event(audit::type::kTokenRevoked, r, g);
  ev.str("by", person.subject).str("reason", reason);
  co_await durable(audit(std::move(ev), audit::Durability::kDurable));
  json reply;
  reply["revoked"] = id;
  reply["kind"] = g.kind;
  reply["subject"] = g.subject;
  co_await send_json(r, 200, reply.dump() + "\n");
}

awaitable<void> Gateway::admin_revoke(Request& r) {
  const session::Session& admin = *r.session->session;
  // A person is revoked everywhere at once: that needs sessions:revoke in every project (a
  // global role), never a role in one project (global_permissions()).
  if (!policy_->holds_everywhere(admin, "sessions:revoke")) {
    policy::Decision d;
    d.reason = policy::Reason::kPermissionMissing;
    d.rule = "admin-revoke";
    d.permission = "sessions:revoke";
    d.detail =
        "revoking a person's sessions and tokens acts in every project, so it needs "
        "sessions:revoke from a role bound to every project (project: \"*\"); a role in one "
        "project does not grant it";
    co_await deny(r, d);
    co_return;
  }
  std::optional<json> parsed = co_await read_json(r);
  if (!parsed) co_return;
  json j = std::move(*parsed);
  std::string subject = field(j, "subject");
  std::string why = field(j, "reason");
  if (subject.empty()) {
    co_await send_error(r, 400, "Bad request",
                        make_error(Code::kBadRequest, "the body must name a subject"));
    co_return;
  }
  auto now = clock_.now();
  std::string reason = "revoked by administrator " + admin.subject;
  if (!why.empty()) reason += ": " + core::clip(why, 200);
  // The tokens first: a session that survived a failure here would be visible; a token not.
  auto live = co_await store_call(stores_.tokens.get(), &session::TokenStore::list, subject, now);
  auto revoked = co_await store_call(stores_.tokens.get(), &session::TokenStore::revoke_subject,
                                     subject, now, reason);
  Result<std::vector<std::string>> sessions = std::vector<std::string>();
  std::string failure;
  if (!revoked) {
    failure = revoked.error().message;
  } else {
    sessions = co_await store_call(stores_.sessions.get(), &session::SessionStore::remove_subject,
                                   subject, std::string(), std::vector<std::string>());
    if (!sessions) failure = sessions.error().message;
  }
  if (!failure.empty()) {
    co_await send_error(r, 503, "Revocation failed",
                        make_error(Code::kStoreUnavailable,
                                   failure + "; nothing may be assumed revoked: try again"));
    co_return;
  }
  audit::AuditLog::Ticket last = 0;
  if (live) {
    for (const auto& g : *live) {
      if (std::find(revoked->begin(), revoked->end(), g.id) == revoked->end()) continue;
      audit::Event ev = token_event(audit::type::kTokenRevoked, r, g);
      ev.str("by", admin.subject).str("reason", reason);
      last = audit(std::move(ev), audit::Durability::kDurable);
    }
  }
  audit::Event ev = event(audit::type::kSessionRevoked, r);
  ev.str("subject", subject)
      .str("by", admin.subject)
      .str("reason", reason)
      .num("sessions", static_cast<int64_t>(sessions->size()))
      .num("tokens", static_cast<int64_t>(revoked->size()));
  std::vector<std::string> refs;
  for (const auto& s : *sessions) refs.push_back(session_ref(s));
  ev.list("session_refs", refs);
  last = audit(std::move(ev), audit::Durability::kDurable);
  revoke_jobs_of(subject, reason, last);
  announce_revocation(subject, reason);
  co_await durable(last);
  log_.warn(r.ex.log_context(), "admin.revoked",
            {{"subject", subject},
             {"by", admin.subject},
             {"sessions", sessions->size()},
             {"tokens", revoked->size()}});
  json reply;
  reply["subject"] = subject;
  reply["sessions_ended"] = sessions->size();
  reply["tokens_revoked"] = *revoked;
  reply["reason"] = reason;
  co_await send_json(r, 200, reply.dump(2) + "\n");
}

}  // namespace cg::gateway
