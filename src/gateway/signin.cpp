// Sign-in and sign-out: /saml/login, /saml/acs, /saml/slo, /saml/logout; the answer of the
// abuse limits (429).
#include <nlohmann/json.hpp>

#include "audit/errors.h"
#include "core/encoding.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "gateway/gateway.h"
#include "gateway/internal/request.h"
#include "gateway/replies.h"
#include "http/cookies.h"
#include "http/errors.h"
#include "http/url.h"
#include "saml/authn_request.h"
#include "saml/bindings.h"
#include "saml/errors.h"
#include "saml/logout.h"
#include "saml/response_validator.h"

namespace cg::gateway {

namespace bhttp = http::bhttp;
using http::awaitable;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kPendingLifetime = 5min;

// IdP-chosen names for the attributes -> the session's claims.
std::vector<session::Claim> claims_of(const saml::Identity& id) {
  std::vector<session::Claim> out;
  for (const auto& a : id.attributes) out.push_back(session::Claim{a.name, a.alias, a.values});
  if (id.groups_overage_link) {
    out.push_back(
        session::Claim{saml::kEntraGroupsLink, "groups_overage", {*id.groups_overage_link}});
  }
  return out;
}

}  // namespace

std::vector<saml::RequiredClaim> Gateway::required_claims(const saml::IdpConfig& idp) const {
  auto policy = policy_->current();
  std::vector<saml::RequiredClaim> out;
  if (idp.required_claims) {
    for (const auto& c : *idp.required_claims) {
      out.push_back(
          {{c}, policy->claim_aliases_of(c), "saml.idps[" + idp.name + "].required_claims lists"});
    }
    return out;
  }
  // NameID, and one of the claims the role bindings read (a person whose IdP sends none of
  // them would be signed in to a session the policy grants nothing: the forgotten attribute
  // statement, made obvious).
  out.push_back({{"name_id"}, {}, ""});
  saml::RequiredClaim bound{policy->binding_claims(), {}, ""};
  if (bound.any_of.empty()) return out;
  for (const auto& c : bound.any_of) {
    for (auto& a : policy->claim_aliases_of(c)) bound.also.push_back(std::move(a));
  }
  bound.why = std::string(bound.any_of.size() == 1 ? "the role bindings read"
                                                   : "the role bindings read one of") +
              " (saml.idps[" + idp.name + "].required_claims sets what this IdP must send)";
  out.push_back(std::move(bound));
  return out;
}

std::vector<saml::UserIdSource> Gateway::user_id_sources(const saml::IdpConfig& idp) const {
  auto policy = policy_->current();
  std::vector<saml::UserIdSource> out;
  for (const auto& name : idp.user_id) {
    out.push_back(
        {name, name == "nameid" ? std::vector<std::string>{} : policy->claim_aliases_of(name)});
  }
  return out;
}

namespace {

// `client`: the address that started it, whose allowance of pending sign-ins it holds.
std::string pending_json(const std::string& request_id, const std::string& idp,
                         const std::string& rd, const std::string& client = "") {
  json j{{"request_id", request_id}, {"idp", idp}, {"rd", rd}};
  if (!client.empty()) j["client"] = client;
  return j.dump();
}

// The ticket that leads an IdP's LogoutRequest (which names the NameID) to the user id its
// sessions are stored under, when the two differ.
std::string name_id_key(std::string_view idp, std::string_view name_id) {
  std::string both = std::string(idp) + "\n" + std::string(name_id);
  return "nameid:" + core::hex_encode(crypto::sha256(both));
}

std::vector<std::string> list(std::string a, std::string b = "") {
  std::vector<std::string> v;
  v.push_back(std::move(a));
  if (!b.empty()) v.push_back(std::move(b));
  return v;
}

}  // namespace

awaitable<void> Gateway::login(Request& r) {
  auto params = core::parse_query(r.query);
  if (!params) {
    co_await send_error(r, 400, "Bad request",
                        make_error(Code::kBadRequest, params.error().message));
    co_return;
  }
  std::string rd = http::safe_return_path(param(*params, "rd"));
  std::string idp_name = param(*params, "idp");
  const saml::IdpConfig* idp = nullptr;
  if (!idp_name.empty()) {
    idp = cfg_.saml.find_idp(idp_name);
    if (!idp) {
      co_await send_error(
          r, 400, "Unknown identity provider",
          make_error(Code::kUnknownIdp,
                     "no identity provider named '" + core::clip(idp_name, 60) + "' is configured"),
          "/saml/login?rd=" + core::url_encode(rd), "Choose again");
      co_return;
    }
  } else if (cfg_.saml.idps.size() == 1) {
    idp = &cfg_.saml.idps.front();
  } else {
    std::vector<IdpChoice> choices;
    for (const auto& i : cfg_.saml.idps) {
      choices.push_back(
          {i.name, i.name + " (" + live(i.name)->metadata->entity_id + ")",
           "/saml/login?idp=" + core::url_encode(i.name) + "&rd=" + core::url_encode(rd)});
    }
    http::StringResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = render_chooser(choices);
    co_await send(r, std::move(res));
    co_return;
  }

  auto md = live(idp->name)->metadata;
  const saml::Endpoint* sso = md->sso_endpoint(saml::kBindingRedirect);
  bool post = false;
  if (!sso) {
    sso = md->sso_endpoint(saml::kBindingPost);
    post = true;
  }
  if (!sso) {
    co_await send_error(r, 500, "Sign-in is not configured",
                        make_error(Code::kUnknownIdp, "the metadata of IdP '" + idp->name +
                                                          "' has no SingleSignOnService endpoint "
                                                          "for HTTP-Redirect or HTTP-POST"));
    co_return;
  }
  // Every sign-in started stores a pending request: limited per client (rate_limit.h).
  if (auto no = limits_.start_signin(r.ex.client_address()); no.refused) {
    co_await send_limited(r, no);
    co_return;
  }
  auto now = clock_.now();
  saml::AuthnRequestOptions opts;
  auto keys = sp();
  opts.name_id_format = keys->sp.name_id_format;
  saml::AuthnRequest req = saml::build_authn_request(keys->sp, sso->location, opts, random_, now);
  std::string relay = core::hex_encode(random_.bytes(16));
  auto* tickets = stores_.tickets.get();
  auto call0 = [tickets, key = "pending:" + relay,
                value = pending_json(req.id, idp->name, rd, r.ex.client_address()),
                expires = now + kPendingLifetime] { return tickets->put(key, value, expires); };
  auto st = co_await stored(std::move(call0));
  if (!st) {
    co_await send_error(r, 503, "Sign-in is unavailable",
                        make_error(Code::kStoreUnavailable,
                                   "the gateway cannot record the sign-in: " + st.error().message));
    co_return;
  }
  log_.info(r.ex.log_context(), "signin.started", {{"idp", idp->name}, {"authn_request", req.id}});
  if (post) {
    auto form = saml::authn_request_post_form(keys->sp, req, relay);
    if (!form) {
      co_await send_error(r, 500, "Sign-in failed", form.error());
      co_return;
    }
    http::StringResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.insert(bhttp::field::set_cookie, pending_cookie(relay, false));
    // The auto-submitting form needs its inline script and a cross-origin form action.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'");
    res.body() = std::move(*form);
    co_await send(r, std::move(res));
    co_return;
  }
  auto url = saml::authn_request_redirect_url(keys->sp, req, relay);
  if (!url) {
    co_await send_error(r, 500, "Sign-in failed", url.error());
    co_return;
  }
  co_await redirect(r, 302, *url, list(pending_cookie(relay, false)));
}

awaitable<void> Gateway::acs(Request& r) {
  auto body = co_await r.ex.read_body(cfg_.body_limit);
  if (!body) {
    bool big = body.error().code == static_cast<int>(http::Code::kBodyTooLarge);
    unsigned status = big ? 413 : 400;
    std::string title = big ? "Response too large" : "Bad request";
    co_await send_error(r, status, std::move(title), body.error());
    co_return;
  }
  std::string audit_why;
  if (audit_ && !audit_->healthy(&audit_why)) {
    // A sign-in that cannot be recorded does not happen (audit.on_failure has no say here).
    Error e = make_error(audit::Code::kUnavailable,
                         "the gateway cannot write its audit log (" + audit_why +
                             "), so it refuses sign-ins until it can; try again later");
    metrics_.signins.inc({"", "failure", e.name});
    co_await audit_signin_failure(r, "", e, nullptr);
    co_await send_error(r, 503, "Sign-in is unavailable", e);
    co_return;
  }
  auto params = core::parse_query(*body);
  // (No ?: with class-type operands in coroutines: GCC 12 can destroy such a temporary twice.)
  std::string response_b64, relay;
  if (params) {
    response_b64 = param(*params, "SAMLResponse");
    relay = param(*params, "RelayState");
  }
  auto now = clock_.now();
  if (response_b64.empty()) {
    Error e = make_error(Code::kNoSamlResponse,
                         "the POST to /saml/acs carries no SAMLResponse form field");
    co_await audit_signin_failure(r, "", e, nullptr);
    co_await send_error(r, 400, "Sign-in failed", e, "/saml/login", "Sign in again");
    co_return;
  }

  // The pending request this answers, consumed now (once, whatever the outcome).
  std::optional<json> pending;
  if (!relay.empty() && relay.size() <= 128) {
    auto* tickets = stores_.tickets.get();
    auto call1 = [tickets, key = "pending:" + relay, now] { return tickets->take(key, now); };
    auto taken = co_await stored(std::move(call1));
    if (!taken) {
      co_await send_error(
          r, 503, "Sign-in is unavailable",
          make_error(Code::kStoreUnavailable,
                     "the gateway cannot read its pending sign-ins: " + taken.error().message));
      co_return;
    }
    if (*taken) pending = json::parse(**taken, nullptr, false);
    if (pending && pending->is_object()) limits_.signin_returned(pending->value("client", ""));
  }
  bool any_unsolicited = false;
  for (const auto& i : cfg_.saml.idps) any_unsolicited = any_unsolicited || i.allow_idp_initiated;
  if (pending && pending->is_object()) {
    auto cookie =
        http::find_cookie(r.ex.header(bhttp::field::cookie), cfg_.cookie.name + "_pending");
    bool same_browser = false;
    if (cookie) {
      auto opened = keyring_.open(*cookie, "pending-cookie");
      same_browser = opened && *opened == relay;
    }
    if (!same_browser) {
      metrics_.signins.inc(
          core::Labels{pending->value("idp", ""), "failure", "gateway.pending_cookie"});
      std::string which = cookie ? "for another sign-in" : "missing";
      Error e = make_error(Code::kPendingCookie,
                           "this browser did not start the sign-in this response answers (its "
                           "sign-in cookie is " +
                               which +
                               "); on plain http the IdP and the gateway must share a site, "
                               "otherwise use https");
      std::string again = "/saml/login?rd=" + core::url_encode(pending->value("rd", "/"));
      co_await audit_signin_failure(r, pending->value("idp", ""), e, nullptr);
      co_await send_error(r, 400, "Sign-in failed", e, std::move(again), "Sign in again");
      co_return;
    }
  } else if (!any_unsolicited) {
    metrics_.signins.inc({"", "failure", "gateway.relay_state"});
    std::string why = relay.empty()
                          ? "the response carries no RelayState, and no IdP is allowed to start "
                            "sign-ins (allow_idp_initiated)"
                          : "the RelayState names no pending sign-in: it expired (after 5 "
                            "minutes), was used already, or was not issued by this gateway";
    Error e = make_error(Code::kRelayState, why);
    co_await audit_signin_failure(r, "", e, nullptr);
    co_await send_error(r, 400, "Sign-in failed", e, "/saml/login", "Sign in again");
    co_return;
  }

  // Validate with the IdP the sign-in started with, or (unsolicited) the IdPs that allow it.
  saml::ValidationReport report;
  const saml::IdpConfig* idp = nullptr;
  if (pending && pending->is_object()) {
    idp = cfg_.saml.find_idp(pending->value("idp", ""));
    if (idp) {
      report = live(idp->name)->validator->validate_posted(response_b64,
                                                           pending->value("request_id", ""));
    }
  } else {
    for (const auto& i : cfg_.saml.idps) {
      if (!i.allow_idp_initiated) continue;
      saml::ValidationReport rep =
          live(i.name)->validator->validate_posted(response_b64, std::nullopt);
      bool issuer_mismatch =
          rep.error && (rep.error->code == static_cast<int>(saml::Code::kResponseIssuer) ||
                        rep.error->code == static_cast<int>(saml::Code::kAssertionIssuer));
      if (rep.ok() || !idp || !issuer_mismatch) {
        report = std::move(rep);
        idp = &i;
      }
      if (report.ok()) break;
    }
  }
  if (!idp) {
    Error e = make_error(Code::kUnknownIdp,
                         "the pending sign-in names an IdP that is no longer configured");
    co_await audit_signin_failure(r, "", e, nullptr);
    co_await send_error(r, 400, "Sign-in failed", e, "/saml/login", "Sign in again");
    co_return;
  }
  bool groups_from_graph = false;
  if (report.ok() && report.identity->groups_overage_link) {
    // Entra ID left the groups out (too many for a token): read them from Microsoft Graph
    // when this IdP has credentials for it.
    if (auto g = graph_.find(idp->name); g != graph_.end()) {
      auto groups = co_await g->second->member_groups(*report.identity);
      if (!groups) {
        Error e = groups.take_error();
        e.message =
            "Entra ID sent a link to the groups instead of the groups (the user is in "
            "more groups than fit in a token), and reading them from Microsoft Graph "
            "failed: " +
            e.message;
        report.checks.push_back({"claims.groups_overage", saml::Check::Outcome::kFail, e.message});
        report.error = std::move(e);
        report.identity.reset();
      } else {
        std::string detail = std::to_string(groups->size()) + " group(s) read from Microsoft Graph";
        report.identity->attributes.push_back(
            {"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "", "groups",
             std::move(*groups)});
        report.checks.push_back({"claims.groups_overage", saml::Check::Outcome::kPass, detail});
        groups_from_graph = true;
      }
    }
  }
  if (report.ok() && !idp->attribute_map.empty()) {
    saml::apply_attribute_map(*report.identity, idp->attribute_map);
  }
  if (report.ok()) {
    // The claims this IdP's sign-ins must carry: refused here, with the report's other checks,
    // rather than as a session that the policy grants nothing.
    if (auto missing = saml::check_required_claims(*report.identity, required_claims(*idp))) {
      report.checks.push_back({"claims.required", saml::Check::Outcome::kFail, missing->message});
      report.error = std::move(*missing);
      report.identity.reset();
    }
  }
  std::string user_id;
  if (report.ok()) {
    // Who the person is: never a transient NameID (a new one at every sign-in).
    auto derived = saml::derive_user_id(*report.identity, user_id_sources(*idp),
                                        "saml.idps[" + idp->name + "].user_id");
    if (!derived) {
      report.checks.push_back(
          {"claims.user_id", saml::Check::Outcome::kFail, derived.error().message});
      report.error = derived.take_error();
      report.identity.reset();
    } else {
      report.checks.push_back({"claims.user_id", saml::Check::Outcome::kPass, *derived});
      user_id = std::move(*derived);
    }
  }
  if (!report.ok()) {
    Error e = *report.error;
    metrics_.signins.inc({idp->name, "failure", e.name});
    std::string failed_check;
    if (!report.checks.empty()) failed_check = report.checks.back().name;
    log_.warn(r.ex.log_context(), "signin.failed",
              {{"idp", idp->name}, {"check", failed_check}, {"code", e.code}, {"name", e.name}});
    std::string rd = "/";
    if (pending) rd = pending->value("rd", "/");
    std::string again =
        "/saml/login?idp=" + core::url_encode(idp->name) + "&rd=" + core::url_encode(rd);
    co_await audit_signin_failure(r, idp->name, e, &report);
    co_await send_error(r, 403, "Sign-in failed", e, std::move(again), "Sign in again");
    co_return;
  }

  const saml::Identity& id = *report.identity;
  session::Session s;
  s.id = core::hex_encode(random_.bytes(32));
  s.subject = user_id;
  s.name_id = id.name_id;
  s.name_id_format = id.name_id_format;
  s.name_qualifier = id.name_qualifier;
  s.sp_name_qualifier = id.sp_name_qualifier;
  s.idp = idp->name;
  s.idp_entity_id = id.idp_entity_id;
  s.session_index = id.session_index;
  s.assertion_id = id.assertion_id;
  s.claims = claims_of(id);
  s.created = now;
  s.authn_instant = id.authn_instant;
  s.expires = now + cfg_.session_ttl;
  if (id.session_not_on_or_after && *id.session_not_on_or_after < s.expires) {
    s.expires = *id.session_not_on_or_after;
  }
  s.idle_timeout = cfg_.session_idle;
  auto grants = policy_->grants(s);
  s.roles = grants->roles;  // as at sign-in; decisions use the policy in force
  auto* sessions = stores_.sessions.get();
  auto* tickets = stores_.tickets.get();
  auto call2 = [sessions, s] { return sessions->put(s); };
  auto put = co_await stored(std::move(call2));
  if (!put) {
    const Error& st_error = put.error();
    metrics_.signins.inc({idp->name, "failure", "gateway.store_unavailable"});
    co_await send_error(r, 503, "Sign-in is unavailable",
                        make_error(Code::kStoreUnavailable,
                                   "the gateway cannot store the session: " + st_error.message));
    co_return;
  }
  if (s.subject != s.name_id) {
    // The IdP's Single Logout names the NameID: remember whose sessions it ends.
    json link{{"subject", s.subject},
              {"session_index", s.session_index},
              {"transient", s.name_id_format == saml::kNameIdTransient}};
    auto call3 = [tickets, key = name_id_key(s.idp, s.name_id), value = link.dump(),
                  expires = s.expires] { return tickets->put(key, value, expires); };
    auto st = co_await stored(std::move(call3));
    if (!st) {
      // The IdP's single logout will not find this session.
      log_.warn(r.ex.log_context(), "signin.slo_index_failed", {{"message", st.error().message}});
    }
  }
  // Every claim received, and the roles they grant, on disk before the session cookie leaves.
  json claims = json::object();
  for (const auto& c : s.claims) {
    // By its short name where it has one; two claims never share a key (none is dropped).
    std::string key = c.alias.empty() || claims.contains(c.alias) ? c.name : c.alias;
    claims[key] = c.values;
  }
  audit::Event ok = event(audit::type::kLoginSuccess, r);
  ok.str("subject", s.subject)
      .str("idp", idp->name)
      .str("idp_entity_id", id.idp_entity_id)
      .str("assertion_id", id.assertion_id)
      .str("session", session_ref(s.id))
      .json("claims", claims.dump(-1, ' ', false, json::error_handler_t::replace))
      .time("authn_instant", id.authn_instant)
      .str("client", r.ex.client_address())
      .str("user_agent", core::clip(r.ex.header(bhttp::field::user_agent), 200))
      .json("role_grants",
            policy::grants_json(*grants).dump(-1, ' ', false, json::error_handler_t::replace))
      .str("roles", grants->roles_joined);
  if (groups_from_graph) ok.str("groups_from", "microsoft-graph");
  audit(std::move(ok), audit::Durability::kDurable);
  audit::Event created = event(audit::type::kSessionCreated, r);
  created.str("subject", s.subject)
      .str("session", session_ref(s.id))
      .str("idp", idp->name)
      .time("expires", s.expires)
      .num("idle_seconds", s.idle_timeout.count());
  bool on_disk = co_await durable(audit(std::move(created), audit::Durability::kDurable));
  if (!on_disk) {
    auto call4 = [sessions, id = s.id] { return sessions->remove(id); };
    (void)co_await stored(std::move(call4));
    metrics_.signins.inc({idp->name, "failure", "audit.unavailable"});
    Error e = make_error(audit::Code::kUnavailable,
                         "the gateway could not record the sign-in in its audit log, so it "
                         "did not happen; try again later");
    audit::Event revoked = event(audit::type::kSessionRevoked, r);
    revoked.str("subject", s.subject)
        .str("session", session_ref(s.id))
        .str("by", "gateway")
        .str("reason", "the audit log failed before the sign-in was on disk");
    audit(std::move(revoked), audit::Durability::kDurable);
    co_await send_error(r, 503, "Sign-in is unavailable", e);
    co_return;
  }
  metrics_.signins.inc({idp->name, "success", ""});
  r.user = s.subject;
  log_.info(r.ex.log_context(), "signin.ok",
            {{"idp", idp->name},
             {"subject", s.subject},
             {"assertion", id.assertion_id},
             {"claims", s.claims.size()},
             {"expires", core::format_datetime(s.expires)}});
  std::string rd = "/";
  if (pending) rd = http::safe_return_path(pending->value("rd", "/"));
  r.clear_cookie = false;
  co_await redirect(r, 303, rd, list(session_cookie(s.id), pending_cookie("", true)));
}

// GET /saml/logout asks (a page whose form POSTs here); only a POST from this gateway's own
// page ends the session: the browser must not say it comes from another site (Origin,
// Sec-Fetch-Site), and the form carries a token sealed to the session. A link or an image on
// another site (a cross-site GET, or a form POST without the token) signs nobody out.
awaitable<void> Gateway::logout(Request& r) {
  bool post = r.ex.method() == bhttp::verb::post;
  std::vector<core::QueryParam> form;
  if (post) {
    auto body = co_await r.ex.read_body(16 * 1024);
    if (body) {
      if (auto f = core::parse_query(*body)) form = std::move(*f);
    }
  }
  co_await load_cookie_session(
      r);  // the browser's cookie (Bearer logins end with claimgate logout)
  std::string rd = "/";
  if (auto params = core::parse_query(r.query)) rd = http::safe_return_path(param(*params, "rd"));
  if (post && !param(form, "rd").empty()) rd = http::safe_return_path(param(form, "rd"));
  if (!r.session) {
    r.clear_cookie = true;
    http::StringResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = render_signed_out("You had no session here.");
    co_await send(r, std::move(res));
    co_return;
  }
  std::string form_token = keyring_.seal(session_ref(r.session_id), "logout-form", random_);
  if (!post) {
    http::StringResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.set(bhttp::field::cache_control, "no-store");
    // The form's POST is answered with a redirect to the IdP's single logout: browsers hold
    // redirects after a form submission to form-action too.
    std::string form_action = "'self'";
    const saml::IdpConfig* signed_in_at = cfg_.saml.find_idp(r.session->session->idp);
    auto at_md = signed_in_at ? live(signed_in_at->name)->metadata : nullptr;
    if (const saml::Endpoint* slo = at_md ? at_md->slo_endpoint(saml::kBindingRedirect) : nullptr) {
      if (auto u = http::parse_url(slo->location)) form_action += " " + u->origin();
    }
    res.set("Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action " + form_action +
                "; frame-ancestors 'none'; base-uri 'none'");
    res.body() = render_logout_confirm(LogoutConfirm{r.session->session->subject, form_token, rd});
    co_await send(r, std::move(res));
    co_return;
  }
  if (auto why = cross_site_reason(r.ex.header("Origin"), r.ex.header("Sec-Fetch-Site"),
                                   cfg_.public_url.origin())) {
    co_await send_error(r, 403, "Sign-out refused",
                        make_error(Code::kCrossSite, *why + "; sign out from the gateway's page"),
                        "/saml/logout", "Sign out here");
    co_return;
  }
  auto sealed = keyring_.open(param(form, "csrf"), "logout-form");
  if (!sealed || *sealed != session_ref(r.session_id)) {
    co_await send_error(r, 403, "Sign-out refused",
                        make_error(Code::kCrossSite,
                                   "the sign-out form was not issued to this session (or was not "
                                   "sent); open the sign-out page and confirm there"),
                        "/saml/logout", "Sign out here");
    co_return;
  }
  r.clear_cookie = true;
  const session::Session s = *r.session->session;
  auto* sessions = stores_.sessions.get();
  auto call5 = [sessions, id = r.session_id] { return sessions->remove(id); };
  (void)co_await stored(std::move(call5));
  log_.info(r.ex.log_context(), "logout", {{"subject", s.subject}});
  {
    audit::Event ev = event(audit::type::kSessionLoggedOut, r);
    ev.str("subject", s.subject).str("session", session_ref(r.session_id)).str("idp", s.idp);
    co_await durable(audit(std::move(ev), audit::Durability::kDurable));
  }
  const saml::IdpConfig* idp = cfg_.saml.find_idp(s.idp);
  auto idp_md = idp ? live(idp->name)->metadata : nullptr;
  const saml::Endpoint* slo = idp_md ? idp_md->slo_endpoint(saml::kBindingRedirect) : nullptr;
  if (slo) {
    auto now = clock_.now();
    saml::LogoutRequestSpec spec{slo->location,   s.name_id,        s.name_id_format,
                                 s.session_index, s.name_qualifier, s.sp_name_qualifier};
    auto keys = sp();
    saml::BuiltMessage msg = saml::build_logout_request(keys->sp, spec, random_, now);
    std::string relay = core::hex_encode(random_.bytes(16));
    auto* tickets = stores_.tickets.get();
    auto call6 = [tickets, key = "logout:" + relay, value = pending_json(msg.id, idp->name, rd),
                  expires = now + kPendingLifetime] { return tickets->put(key, value, expires); };
    auto put = co_await stored(std::move(call6));
    auto url = saml::redirect_url(slo->location, "SAMLRequest", msg.xml, relay,
                                  keys->sp.sign_authn_requests ? &keys->sp.current.key : nullptr);
    if (put && url) {
      co_await redirect(r, 302, *url);
      co_return;
    }
    log_.warn(r.ex.log_context(), "logout.idp_slo_skipped",
              {{"message", !put ? put.error().message : url.error().message}});
  }
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.body() = render_signed_out("Your session with the gateway has ended.");
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::send_limited(Request& r, const AbuseLimits::Refusal& why) {
  Error e = make_error(Code::kRateLimited, why.message);
  log_.warn(r.ex.log_context(), "rate_limited",
            {{"client", r.ex.client_address()},
             {"path", r.path},
             {"limit", why.limit},
             {"retry_after", why.retry_after.count()}});
  http::StringResponse res{bhttp::status::too_many_requests, 11};
  res.set(bhttp::field::retry_after, std::to_string(why.retry_after.count()));
  res.set(bhttp::field::cache_control, "no-store");
  bool html = html_answer(Answer::kError, r.ex.method(), r.ex.header(bhttp::field::accept));
  if (html) {
    ErrorPage page;
    page.status = 429;
    page.title = "Too many requests";
    page.code = std::to_string(e.code) + " " + e.name;
    page.message = e.message;
    page.request_id = r.ex.request_id();
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = render_error_page(page);
  } else {
    res.set(bhttp::field::content_type, "application/json");
    res.body() = json{{"error", e.name},
                      {"code", e.code},
                      {"message", e.message},
                      {"limit", "limits." + why.limit},
                      {"retry_after", why.retry_after.count()},
                      {"request_id", r.ex.request_id()}}
                     .dump() +
                 "\n";
  }
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::slo(Request& r) {
  auto msg = saml::decode_redirect(r.query);
  if (!msg) {
    co_await send_error(r, 400, "Sign-out failed", msg.error());
    co_return;
  }
  auto now = clock_.now();
  saml::LogoutCheckSettings checks{cfg_.saml.sp.slo_url, cfg_.saml.clock_skew,
                                   cfg_.saml.max_assertion_age};
  {
    // The same SP keys (after a rollover step too) and rules as for an EncryptedAssertion.
    auto keys = sp();
    checks.sp_entity_id = keys->sp.entity_id;
    checks.affiliation_id = keys->sp.affiliation_id;
    checks.allow_rsa15 = cfg_.saml.allow_rsa15;
    checks.decryption_keys = keys->sp.decryption_keys();
  }
  if (msg->param == "SAMLRequest") {
    // IdP-initiated: end the sessions it names, answer with a signed LogoutResponse.
    std::optional<Error> last;
    for (const auto& idp : cfg_.saml.idps) {
      auto md = live(idp.name)->metadata;
      auto info =
          saml::validate_logout_request(*msg, cfg_.saml.idp_settings(idp, *md), checks, now);
      if (!info) {
        last = info.error();
        continue;
      }
      // Sessions are stored under the user id; the LogoutRequest names the NameID.
      std::string subject = info->name_id;
      std::vector<std::string> indexes = info->session_indexes;
      auto* tickets = stores_.tickets.get();
      auto call7 = [tickets, key = name_id_key(idp.name, info->name_id), now] {
        return tickets->peek(key, now);
      };
      auto link = co_await stored(std::move(call7));
      if (link && *link) {
        json j = json::parse(**link, nullptr, false);
        if (j.is_object() && j.value("subject", "") != "") {
          subject = j.value("subject", "");
          // A transient NameID names one session: end only that one, not the person's others.
          if (indexes.empty() && j.value("transient", false))
            indexes.push_back(j.value("session_index", ""));
        }
      }
      auto* sessions = stores_.sessions.get();
      auto call8 = [sessions, subject, name = idp.name, indexes] {
        return sessions->remove_subject(subject, name, indexes);
      };
      auto removed = co_await stored(std::move(call8));
      size_t n = removed ? removed->size() : 0;
      log_.info(r.ex.log_context(), "logout.idp",
                {{"idp", idp.name}, {"subject", subject}, {"sessions_ended", n}});
      if (removed) {
        audit::AuditLog::Ticket last = 0;
        for (const auto& sid : *removed) {
          audit::Event ev = event(audit::type::kSessionRevoked, r);
          ev.str("subject", subject)
              .str("session", session_ref(sid))
              .str("by", "idp:" + idp.name)
              .str("reason", "the IdP's LogoutRequest");
          last = audit(std::move(ev), audit::Durability::kDurable);
        }
        if (last) co_await durable(last);
      }
      const saml::Endpoint* slo = md->slo_endpoint(saml::kBindingRedirect);
      if (!slo) {
        r.clear_cookie = true;
        http::StringResponse res{bhttp::status::ok, 11};
        res.set(bhttp::field::content_type, "text/html; charset=utf-8");
        res.body() = render_signed_out("Your identity provider signed you out.");
        co_await send(r, std::move(res));
        co_return;
      }
      std::string dest = slo->response_location.empty() ? slo->location : slo->response_location;
      auto keys = sp();
      saml::BuiltMessage resp =
          saml::build_logout_response(keys->sp, dest, info->id, removed.has_value(), random_, now);
      auto url = saml::redirect_url(dest, "SAMLResponse", resp.xml, msg->relay_state,
                                    keys->sp.sign_authn_requests ? &keys->sp.current.key : nullptr);
      if (!url) {
        co_await send_error(r, 500, "Sign-out failed", url.error());
        co_return;
      }
      r.clear_cookie = true;
      co_await redirect(r, 302, *url);
      co_return;
    }
    Error e = make_error(Code::kLogout, "no IdP is configured");
    if (last) e = *last;
    co_await send_error(r, 400, "Sign-out failed", e);
    co_return;
  }
  // A LogoutResponse to our LogoutRequest.
  auto* tickets = stores_.tickets.get();
  auto call9 = [tickets, key = "logout:" + msg->relay_state, now] {
    return tickets->take(key, now);
  };
  auto taken = co_await stored(std::move(call9));
  std::optional<json> pending;
  if (taken && *taken) pending = json::parse(**taken, nullptr, false);
  if (!pending || !pending->is_object()) {
    co_await send_error(r, 400, "Sign-out failed",
                        make_error(Code::kLogout,
                                   "this LogoutResponse answers no sign-out this "
                                   "gateway started (expired, used, or forged)"));
    co_return;
  }
  const saml::IdpConfig* idp = cfg_.saml.find_idp(pending->value("idp", ""));
  if (!idp) {
    co_await send_error(r, 400, "Sign-out failed",
                        make_error(Code::kUnknownIdp, "the IdP is no longer configured"));
    co_return;
  }
  auto info =
      saml::validate_logout_response(*msg, cfg_.saml.idp_settings(*idp, *live(idp->name)->metadata),
                                     checks, pending->value("request_id", ""), now);
  if (!info) {
    co_await send_error(r, 400, "Sign-out at the identity provider failed", info.error());
    co_return;
  }
  std::string rd = http::safe_return_path(pending->value("rd", "/"));
  if (rd != "/") {
    co_await redirect(r, 302, rd);
    co_return;
  }
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  std::string detail =
      info->status.ends_with(":Success")
          ? "You are signed out here and at your identity provider."
          : "You are signed out here; your identity provider answered " + info->status + ".";
  res.body() = render_signed_out(detail);
  co_await send(r, std::move(res));
}

}  // namespace cg::gateway
