#include "gateway/gateway.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "audit/errors.h"
#include "core/encoding.h"
#include "core/process_metrics.h"
#include "core/time.h"
#include "gateway/internal/request.h"
#include "gateway/replies.h"
#include "gateway/routes.h"
#include "http/cookies.h"
#include "http/errors.h"
#include "http/proxy.h"
#include "http/url.h"
#include "policy/errors.h"
#include "policy/path.h"
#include "saml/sp_metadata.h"
#include "session/errors.h"
#include "session/memory_store.h"
#include "session/sqlite_store.h"
#include "storage/errors.h"

namespace cg::gateway {

namespace {
// The stores' work pool (Stores::pool): a few threads (their calls wait on I/O or SQLite's
// lock, not the CPU), and a bound on calls waiting beyond which requests fail at once.
constexpr size_t kStorePoolThreads = 4;
constexpr size_t kStorePoolWaiting = 512;
}  // namespace

namespace bhttp = http::bhttp;
namespace beast = http::beast;
using http::awaitable;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string param(const std::vector<core::QueryParam>& ps, std::string_view name) {
  const core::QueryParam* p = core::find_param(ps, name);
  return p ? p->value : std::string();
}

Result<bool> TicketReplayCache::insert_if_absent(std::string_view id, core::WallTime expires,
                                                 core::WallTime now) {
  return tickets_.insert_once("assertion:" + std::string(id), expires, now);
}

Metrics::Metrics(core::MetricsRegistry& r)
    : requests(r.counter("claimgate_http_requests_total",
                         "Requests answered, by route and HTTP status", {"route", "status"})),
      signins(r.counter("claimgate_signins_total",
                        "Sign-ins at /saml/acs, by IdP, result and error code",
                        {"idp", "result", "code"})),
      rejected(r.counter("claimgate_rejected_requests_total",
                         "Requests refused before routing (malformed, too large, too slow)",
                         {"status"})),
      upstream_errors(r.counter("claimgate_upstream_errors_total",
                                "Upstream failures answered with 502/504, by route and code",
                                {"route", "code"})),
      decisions(r.counter("claimgate_authz_decisions_total",
                          "Authorization decisions, by route, effect and reason",
                          {"route", "effect", "reason"})),
      policy_reloads(r.counter("claimgate_policy_reloads_total",
                               "Policy reloads (SIGHUP or a changed file), by result", {"result"})),
      metadata_refreshes(r.counter("claimgate_idp_metadata_refresh_total",
                                   "Fetches of IdP metadata from metadata_url, by IdP and result "
                                   "(updated, unchanged, refused, failed)",
                                   {"idp", "result"})),
      upstream_latency(r.histogram(
          "claimgate_upstream_latency_seconds",
          "Time from sending a request upstream to its response header",
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})),
      tokens_minted(r.counter("claimgate_tokens_minted_total",
                              "Tokens issued: logins (cli), agent tokens, job tokens at submission",
                              {"kind"})),
      tokens_refreshed(r.counter("claimgate_tokens_refreshed_total",
                                 "Tokens refreshed: a login's refresh grant (cli), a job token "
                                 "renewed by a node (job)",
                                 {"kind"})),
      tokens_refused(r.counter("claimgate_tokens_refused_total",
                               "Tokens refused (Bearer tokens, the token endpoint's grants), by "
                               "what was presented and the error code",
                               {"kind", "code"})),
      job_renewals(r.counter("claimgate_job_token_renewals_total",
                             "Job token renewals asked by the nodes, by result (renewed, refused)",
                             {"result"})),
      node_refusals(r.counter("claimgate_job_node_refusals_total",
                              "Requests of the nodes (check, renew, report) refused, by endpoint "
                              "and error code",
                              {"endpoint", "code"})) {}

Result<Stores> open_stores(const GatewayConfig& cfg, const core::Clock& clock) {
  Stores s;
  if (cfg.store_kind == "redis") {
    CG_TRY(session::RedisStores r, session::open_redis_stores(cfg.redis, clock));
    s.sessions = std::move(r.sessions);
    s.tickets = std::move(r.tickets);
    s.tokens = std::move(r.tokens);
    s.redis = std::move(r.backend);
    // A call may connect and then run a command or two before the client gives up.
    s.deadline = cfg.redis.redis.connect_timeout + 2 * cfg.redis.redis.command_timeout;
    s.late = make_error(storage::Code::kRedis,
                        "Redis at " + cfg.redis.redis.describe() + " did not answer in time");
    s.pool = std::make_unique<storage::WorkPool>(kStorePoolThreads, kStorePoolWaiting);
  } else if (cfg.store_kind == "sqlite") {
    auto db = session::open_sqlite(cfg.store_path);
    if (!db) return fail(db.take_error());
    s.sessions = std::make_unique<session::SqliteSessionStore>(*db);
    s.tickets = std::make_unique<session::SqliteTicketStore>(*db);
    s.tokens = std::make_unique<session::SqliteTokenStore>(*db);
    s.deadline = std::chrono::milliseconds(5000);  // SQLite's busy timeout
    s.late = make_error(session::Code::kStore,
                        "the SQLite store " + cfg.store_path + " did not answer in time");
    s.pool = std::make_unique<storage::WorkPool>(kStorePoolThreads, kStorePoolWaiting);
  } else {
    s.sessions = std::make_unique<session::MemorySessionStore>();
    s.tickets = std::make_unique<session::MemoryTicketStore>();
    s.tokens = std::make_unique<session::MemoryTokenStore>();
  }
  return s;
}

Result<crypto::Keyring> open_keyring(const GatewayConfig& cfg, core::WallTime now,
                                     core::Random& random, std::vector<std::string>& notes) {
  std::error_code ec;
  bool empty = !std::filesystem::exists(cfg.keys_dir, ec) ||
               (std::filesystem::is_directory(cfg.keys_dir, ec) &&
                std::filesystem::is_empty(cfg.keys_dir, ec));
  if (empty) {
    CG_TRY(std::string kid, crypto::Keyring::add_keys(cfg.keys_dir, now, random));
    notes.push_back("keys: created " + cfg.keys_dir + " with a first key pair (id " + kid +
                    "); gateways that share sessions must share this directory");
  }
  return crypto::Keyring::load(cfg.keys_dir, &notes);
}

Gateway::Gateway(GatewayConfig cfg, crypto::Keyring keyring, Stores stores,
                 const core::Clock& clock, core::Random& random)
    : cfg_(std::move(cfg)),
      keyring_(std::move(keyring)),
      stores_(std::move(stores)),
      clock_(clock),
      random_(random),
      cookies_(keyring_, cfg_.cookie.name),
      replay_(*stores_.tickets),
      identity_jwts_({cfg_.jwt_issuer, cfg_.jwt_ttl}, clock_, keyring_.current_signing().id,
                     keyring_signer(keyring_)),
      minter_({cfg_.jwt_issuer, cfg_.tokens.access_ttl}, keyring_, random_,
              keyring_signer(keyring_)),
      metrics_(registry_) {
  auto route_auth = std::make_shared<policy::RouteAuthorizer>();
  for (const auto& r : cfg_.routes) {
    route_auth->set(r.name,
                    policy::RouteRequirement{r.public_route, r.allow_groups, r.group_claim});
  }
  // Forward-auth requests that match no route need a signed-in session.
  route_auth->set("forward-auth", policy::RouteRequirement{});
  policy_ = std::make_shared<policy::PolicyAuthorizer>(cfg_.policy ? cfg_.policy
                                                                   : policy::Policy::empty());
  route_auth->set_rules(policy_);
  authorizer_ = std::move(route_auth);
  live_sp_ = std::make_shared<LiveSp>(LiveSp{cfg_.saml.sp, saml::sp_metadata_xml(cfg_.saml.sp)});
  for (const auto& idp : cfg_.saml.idps) {
    // The bytes in force, so that a fetch of the same document counts as unchanged.
    std::string document = idp.metadata_fetched;
    if (document.empty() && !idp.metadata_url.empty()) {
      if (auto copy = core::read_file(idp.metadata_file, 8u << 20)) document = std::move(*copy);
    }
    install(idp, idp.metadata, std::move(document));
    if (idp.graph) graph_[idp.name] = std::make_unique<GraphGroups>(*idp.graph, clock_);
  }
  token_verifier_ = crypto::JwtVerifier(keyring_);
  jwks_json_ = crypto::jwks_of(keyring_).dump();

  stripped_names_ = {cfg_.cookie.name, cfg_.cookie.name + "_pending"};

  core::register_process_metrics(registry_, "claimgate");
  registry_.gauge(
      "claimgate_jobs", "Jobs this gateway's jobs service watches, by state", {"state"}, [this] {
        std::vector<std::pair<core::Labels, double>> out;
        if (!jobs_) return out;
        auto c = jobs_->counts();
        for (auto st : {jobs::State::kQueued, jobs::State::kRunning}) {
          out.push_back(
              {{jobs::state_name(st)}, static_cast<double>(c.watched[static_cast<size_t>(st)])});
        }
        return out;
      });
  registry_.counter_reader(
      "claimgate_jobs_finished_total",
      "Jobs whose end this gateway's jobs service recorded, by state", {"state"}, [this] {
        std::vector<std::pair<core::Labels, double>> out;
        if (!jobs_) return out;
        auto c = jobs_->counts();
        for (auto st : {jobs::State::kSucceeded, jobs::State::kFailed, jobs::State::kCancelled,
                        jobs::State::kLost}) {
          out.push_back(
              {{jobs::state_name(st)}, static_cast<double>(c.ended[static_cast<size_t>(st)])});
        }
        return out;
      });
  registry_.gauge("claimgate_sessions_active", "Sessions not past their absolute expiry", {},
                  [this] {
                    auto n = stores_.sessions->count_active(clock_.now());
                    return std::vector<std::pair<core::Labels, double>>{
                        {{}, n ? static_cast<double>(*n) : -1.0}};
                  });
  if (stores_.redis) {
    registry_.gauge(
        "claimgate_redis_state",
        "The Redis store: reachable (1/0), subscribed to revocations (1/0), seconds down", {"what"},
        [this] {
          auto st = session::redis_status(*stores_.redis);
          return std::vector<std::pair<core::Labels, double>>{
              {{"reachable"}, st.down_for ? 0.0 : 1.0},
              {{"subscribed"}, st.subscribed ? 1.0 : 0.0},
              {{"down_seconds"}, st.down_for.value_or(0.0)}};
        });
    registry_.counter_reader(
        "claimgate_redis_view_total",
        "Session and grant reads answered by the local view (hit), by Redis (miss), by the view "
        "during an outage (grace); pub/sub invalidations applied; (re)subscriptions",
        {"event"}, [this] {
          auto st = session::redis_status(*stores_.redis);
          auto d = [](uint64_t v) { return static_cast<double>(v); };
          return std::vector<std::pair<core::Labels, double>>{
              {{"hit"}, d(st.view_hits)},
              {{"miss"}, d(st.view_misses)},
              {{"grace"}, d(st.grace_hits)},
              {{"invalidation"}, d(st.invalidations)},
              {{"resync"}, d(st.resyncs)}};
        });
  }
  registry_.gauge(
      "claimgate_certificate_expiry_days", "Days until each certificate in use expires",
      {"use", "subject", "fingerprint"}, [this] {
        std::vector<std::pair<core::Labels, double>> out;
        auto days = [&](const crypto::Certificate& c) {
          return std::chrono::duration<double>(c.not_after() - clock_.now()).count() / 86400.0;
        };
        auto add = [&](const std::string& use, const crypto::Certificate& c) {
          if (c.key_only()) return;  // a key without a certificate: no expiry to count down
          out.push_back({{use, c.subject(), c.sha256_fingerprint().substr(0, 23)}, days(c)});
        };
        auto keys = sp();
        add("sp-signing", keys->sp.current.cert);
        if (keys->sp.next) add("sp-signing-next", keys->sp.next->cert);
        if (keys->sp.previous) add("sp-signing-previous", keys->sp.previous->cert);
        for (const auto& idp : cfg_.saml.idps) {
          for (const auto& c : live(idp.name)->metadata->signing_certs) add("idp:" + idp.name, c);
        }
        if (!cfg_.server.tls_cert_file.empty()) {
          if (auto c = crypto::Certificate::load(cfg_.server.tls_cert_file)) add("tls", *c);
        }
        return out;
      });
  registry_.gauge(
      "claimgate_idp_metadata_age_seconds",
      "Seconds since each IdP's metadata in force was last confirmed (read at start, or fetched)",
      {"idp"}, [this] {
        std::vector<std::pair<core::Labels, double>> out;
        auto now = clock_.now();
        for (const auto& idp : cfg_.saml.idps) {
          out.push_back(
              {{idp.name}, std::chrono::duration<double>(now - metadata_confirmed(idp)).count()});
        }
        return out;
      });
  registry_.gauge(
      "claimgate_idp_metadata_valid_seconds",
      "Seconds until each IdP's metadata in force passes its validUntil", {"idp"}, [this] {
        std::vector<std::pair<core::Labels, double>> out;
        for (const auto& idp : cfg_.saml.idps) {
          auto md = live(idp.name)->metadata;
          if (!md->valid_until) continue;
          out.push_back(
              {{idp.name}, std::chrono::duration<double>(*md->valid_until - clock_.now()).count()});
        }
        return out;
      });
  registry_.gauge("claimgate_open_connections", "Client connections open", {}, [this] {
    return std::vector<std::pair<core::Labels, double>>{
        {{}, server_ ? static_cast<double>(server_->open_connections()) : 0.0}};
  });
  registry_.gauge("claimgate_requests_in_flight", "Requests being handled on the public port", {},
                  [this] {
                    return std::vector<std::pair<core::Labels, double>>{
                        {{}, server_ ? static_cast<double>(server_->in_flight()) : 0.0}};
                  });
}

std::vector<std::string> Gateway::policy_files() const {
  std::vector<std::string> f{cfg_.config_path};
  if (cfg_.policy_file != cfg_.config_path) f.push_back(cfg_.policy_file);
  return f;
}

bool Gateway::reload_policy(const std::string& why) {
  std::lock_guard lock(reload_mu_);
  core::Problems problems;
  std::vector<std::string> warnings;
  std::string file;
  auto next = policy::load_policy_file(cfg_.config_path, problems, warnings, &file);
  if (next) {
    for (auto& [where, found] : public_rules_on_identity_routes(*next, cfg_.routes)) {
      problems.add(where, found,
                   std::string("a rule that needs a signed-in person on routes with builtin: "
                               "upstreams (") +
                       code_name(Code::kIdentityRequired) + ")");
    }
  }
  if (problems.empty() && !next && cfg_.policy) {
    problems.add("(policy)", "no policy sections",
                 "the policy in force stays: a reload does not remove a policy (restart to do "
                 "that)");
  }
  if (!problems.empty()) {
    metrics_.policy_reloads.inc({"refused"});
    Error e = make_error(policy::Code::kReloadRefused,
                         "policy reload (" + why + ") refused; the policy in force stays: " +
                             std::to_string(problems.list().size()) + " problem(s)");
    log_.error("policy.reload_refused", {{"code", e.code}, {"message", e.message}});
    std::vector<std::string> listed;
    for (const auto& p : problems.list()) {
      log_.error("  ", p.to_string());
      listed.push_back(p.to_string());
    }
    audit::Event ev(audit::type::kPolicyRefused, clock_.now());
    ev.str("why", why).str("file", file.empty() ? cfg_.policy_file : file).list("problems", listed);
    audit(std::move(ev), audit::Durability::kDurable);
    return false;
  }
  if (!next) next = policy::Policy::empty();
  for (const auto& w : warnings) log_.warn("policy: ", w);
  for (auto& w : unreachable_rules(*next, cfg_.routes)) log_.warn("policy: ", w);
  if (file != cfg_.policy_file) {
    log_.warn("policy_file changed to ", file,
              " in the config; it is read now, and watched from the next start");
  }
  policy_->replace(next);
  metrics_.policy_reloads.inc({"applied"});
  audit::Event ev(audit::type::kPolicyReloaded, clock_.now());
  ev.str("why", why)
      .str("file", file)
      .num("generation", static_cast<int64_t>(policy_->generation()))
      .num("rules", static_cast<int64_t>(next->rules().size()))
      .num("bindings", static_cast<int64_t>(next->bindings().size()))
      .num("roles", static_cast<int64_t>(next->roles().size()));
  audit(std::move(ev), audit::Durability::kDurable);
  log_.info("policy reloaded (", why, "): ", next->rules().size(), " rule(s), ",
            next->bindings().size(), " binding(s), ", next->roles().size(), " role(s); generation ",
            policy_->generation(), "; other config changes need a restart");
  return true;
}

Gateway::~Gateway() { stop_metadata_refresh(); }

void Gateway::on_reject(unsigned status, const std::string& reason, const std::string& client) {
  metrics_.rejected.inc({std::to_string(status)});
  log_.info("http.rejected", {{"client", client}, {"status", status}, {"reason", reason}});
}

void Gateway::purge_expired() {
  auto now = clock_.now();
  if (now - last_cert_audit_ >= std::chrono::hours(24)) audit_certificates();
  auto s = stores_.sessions->purge_expired(now);
  auto t = stores_.tickets->purge_expired(now);
  if (auto g = stores_.tokens->purge_expired(now); !g) {
    log_.warn("store.purge_failed", {{"message", g.error().message}});
  }
  if (!s || !t) {
    log_.warn("store.purge_failed", {{"message", !s ? s.error().message : t.error().message}});
  } else if (*s + *t > 0) {
    log_.debug("store.purged", {{"sessions", *s}, {"tickets", *t}});
  }
}

bool Gateway::ready(std::string* why) {
  auto n = stores_.sessions->count_active(clock_.now());
  if (!n) {
    if (why) {
      *why = "session store: " + n.error().message;
      if (stores_.redis) {
        *why += cfg_.redis.outage_grace.count() > 0
                    ? " (sessions this gateway had read keep working for " +
                          std::to_string(cfg_.redis.outage_grace.count() / 1000) +
                          "s of the outage; sign-ins are refused until Redis answers)"
                    : " (sign-ins and sessions are refused until Redis answers)";
      }
    }
    return false;
  }
  if (stores_.redis && !session::redis_status(*stores_.redis).subscribed) {
    if (why) *why = "session store: Redis answers but its pub/sub subscription is not up yet";
    return false;
  }
  std::string audit_why;
  if (audit_ && !audit_->healthy(&audit_why)) {
    if (why) *why = "audit log: " + audit_why + " (sign-ins are refused until it is writable)";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The request path

namespace {

[[maybe_unused]] bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && beast::iequals(s.substr(0, prefix.size()), prefix);
}

void security_headers(http::StringResponse& res) {
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  if (res.find("Content-Security-Policy") == res.end()) {
    res.set("Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'");
  }
}

// The decision recorded for a refused Bearer token (deny() answers 401 with its reason).
policy::Decision token_refusal(const Error& e) {
  policy::Decision d;
  d.reason = e.code == static_cast<int>(Code::kTokenExpired)   ? policy::Reason::kTokenExpired
             : e.code == static_cast<int>(Code::kTokenRevoked) ? policy::Reason::kTokenRevoked
                                                               : policy::Reason::kTokenInvalid;
  d.rule = "bearer";
  d.detail = e.message;
  return d;
}

policy::Decision unauthenticated_decision() {
  policy::Decision d;
  d.reason = policy::Reason::kUnauthenticated;
  d.rule = "whoami";
  return d;
}

// Error replies carry messages built from request and IdP values: bytes that are not UTF-8
// become U+FFFD instead of an exception (a 500) in dump().
std::string error_json(const Error& e, const std::string& request_id) {
  return json{{"error", e.name},
              {"code", e.code},
              {"message", e.message},
              {"request_id", request_id}}
             .dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n";
}

// A 403's JSON: the error, and the decision's reason, rule, project and permission (never the
// policy itself).
std::string forbidden_json(const Error& e, const policy::Decision& d,
                           const std::string& request_id) {
  return json{{"error", e.name},
              {"code", e.code},
              {"message", e.message},
              {"reason", std::string(policy::reason_name(d.reason))},
              {"rule", d.rule},
              {"project", d.project},
              {"permission", d.permission},
              {"request_id", request_id}}
             .dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n";
}

std::string unauthenticated_json(const std::string& signin_url, const std::string& request_id) {
  return json{{"error", code_name(Code::kUnauthenticated)},
              {"code", static_cast<int>(Code::kUnauthenticated)},
              {"message", "sign in first: open the signin_url in a browser"},
              {"signin_url", signin_url},
              {"request_id", request_id}}
             .dump() +
         "\n";
}

std::string whoami_json(const session::StoredSession& st, core::WallTime idle_end,
                        const policy::Grants& grants,
                        const std::vector<session::TokenGrant>& tokens,
                        const session::TokenGrant* via) {
  const session::Session& s = *st.session;
  json claims = json::array();
  for (const auto& c : s.claims)
    claims.push_back({{"name", c.name}, {"alias", c.alias}, {"values", c.values}});
  json j = {{"subject", s.subject},
            {"name_id", s.name_id},
            {"name_id_format", s.name_id_format},
            {"email", s.first("email")},
            {"groups", s.values("groups")},
            {"roles", grants.roles},
            {"role_grants", policy::grants_json(grants)},
            {"roles_at_signin", s.roles},
            {"idp", s.idp},
            {"idp_entity_id", s.idp_entity_id},
            {"session",
             {{"created", core::format_datetime(s.created)},
              {"authn_instant", core::format_datetime(s.authn_instant)},
              {"last_seen", core::format_datetime(st.last_seen)},
              {"expires", core::format_datetime(s.expires)},
              {"idle_timeout_seconds", s.idle_timeout.count()},
              {"idle_expires", core::format_datetime(idle_end)}}},
            {"claims", claims}};
  json list = json::array();
  for (const auto& g : tokens) {
    json t = {{"id", g.id},
              {"kind", g.kind},
              {"client", g.client},
              {"created", core::format_datetime(g.created)},
              {"expires", core::format_datetime(g.expires)},
              {"current", via && via->id == g.id}};
    if (g.kind == "agent") {
      t["agent"] = g.agent;
      t["scope"] = g.scope;
      t["project"] = g.project;
    }
    list.push_back(std::move(t));
  }
  j["tokens"] = std::move(list);
  if (via) {
    j["via_token"] = via->id;
    if (via->kind == "agent") {
      j["actor"] = "agent:" + via->agent;
      j["on_behalf_of"] = via->subject;
      j["scope"] = via->scope;
      j["scope_project"] = via->project;
    }
  }
  return j.dump(2) + "\n";
}

std::string auth_json(const policy::Decision& d, const std::string& signin_url,
                      const std::string& request_id) {
  if (d.allowed()) {
    return json{{"allow", true},
                {"reason", std::string(policy::reason_name(d.reason))},
                {"rule", d.rule},
                {"project", d.project},
                {"permission", d.permission},
                {"role", d.role},
                {"condition", d.condition}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (!signin_url.empty()) {
    return json{
        {"error", "unauthenticated"}, {"signin_url", signin_url}, {"request_id", request_id}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return json{{"error", std::string(policy::reason_name(d.reason))},
              {"message", d.detail},
              {"rule", d.rule},
              {"project", d.project},
              {"permission", d.permission},
              {"request_id", request_id}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

awaitable<void> Gateway::handle(http::Exchange& ex) {
  // 0. Forward-auth: the original request, from the headers the configured front proxy sets,
  // read before step 1 strips forwarding headers (X-Forwarded-Host is one of them).
  // (Only a literal /auth target: one that merely normalises to it, "/%61uth", reaches
  // forward_auth() without an original request and is refused there.)
  std::optional<Result<OriginalRequest>> original;
  if (cfg_.forward_auth.is_auth_path(http::target_path(ex.target()))) {
    original.emplace(read_original_request(cfg_.forward_auth, ex.request()));
  }
  // 1. Identity headers from the client are dropped before anything reads a header.
  http::strip_client_headers(ex.mutable_request(), cfg_.header_prefix);
  // 2. The path is normalised once; routing, the decision and the upstream all use that form.
  // (No ?: on strings here: GCC 12 mishandles class-type ?: temporaries in coroutines.)
  auto normalised = policy::normalize_path(http::target_path(ex.target()));
  std::string path(http::target_path(ex.target()));
  if (normalised) path = *normalised;
  Request r{ex, std::move(path), std::string(http::target_query(ex.target())),
            std::string(ex.header(bhttp::field::host))};
  if (!normalised) {
    Error e = normalised.error();
    co_await send_error(r, 400, "Bad request", e);
    access_log(r);
    co_return;
  }
  // 3. The gateway's own endpoints (the table in routes.cpp), or the proxy.
  const std::string& p = r.path;
  bool auth = cfg_.forward_auth.is_auth_path(p);
  if (auth || is_gateway_path(p)) {
    r.route_name = "(gateway)";
    EndpointMatch m = find_endpoint(p, ex.method());
    if (auth && !m.known_path) {
      co_await forward_auth(r, original);
    } else {
      co_await dispatch(r, m);
    }
    access_log(r);
    co_return;
  }
  co_await proxy(r);
  access_log(r);
}

awaitable<void> Gateway::dispatch(Request& r, const EndpointMatch& m) {
  const std::string& p = r.path;
  if (m.tokens && !cfg_.tokens.enabled) {
    co_await send_error(r, 404, "Not found",
                        make_error(Code::kTokensDisabled,
                                   "this gateway does not issue tokens (tokens.enabled is false)"));
    co_return;
  }
  if (!m.known_path) {
    co_await send_error(
        r, 404, "Not found",
        make_error(Code::kNotFound,
                   "the gateway has no endpoint " + std::string(r.ex.method_string()) + " " + p));
    co_return;
  }
  if (!m.endpoint) {
    co_await send_error(
        r, 405, "Method not allowed",
        make_error(Code::kBadRequest, std::string(r.ex.method_string()) + " is not allowed on " +
                                          p + " (it answers " + allow_header(m.allowed) + ")"));
    co_return;
  }
  switch (m.endpoint->handler) {
    case Handler::kAcs:
      co_await acs(r);
      break;
    case Handler::kLogin:
      co_await login(r);
      break;
    case Handler::kSlo:
      co_await slo(r);
      break;
    case Handler::kLogout:
      co_await logout(r);
      break;
    case Handler::kMetadata:
      co_await metadata(r);
      break;
    case Handler::kWhoami:
      co_await whoami(r);
      break;
    case Handler::kJobsNode:
      co_await jobs_node(r);
      break;
    case Handler::kCliAuthorize:
      co_await cli_authorize(r);
      break;
    case Handler::kCliDevice:
      co_await cli_device(r);
      break;
    case Handler::kCliToken:
      co_await cli_token(r);
      break;
    case Handler::kCliRevoke:
      co_await cli_revoke(r);
      break;
    case Handler::kDevicePage:
      co_await device_page(r);
      break;
    case Handler::kDeviceSubmit:
      co_await device_submit(r);
      break;
    case Handler::kTokens:
      co_await tokens_endpoint(r);
      break;
    case Handler::kJwks:
      co_await jwks(r);
      break;
    case Handler::kForwardAuth: {
      std::optional<Result<OriginalRequest>> none;  // (handle() passes the original request)
      co_await forward_auth(r, none);
      break;
    }
    case Handler::kHealth:
      co_await health(r);
      break;
    case Handler::kDiagnostics:
      // Operators read these on the diagnostics listener (diagnostics.listen), never here:
      // the public port says nothing about the gateway's inside.
      co_await send_error(r, 404, "Not found",
                          make_error(Code::kNotFound, p + " is served on the diagnostics "
                                                          "listener (diagnostics.listen), not "
                                                          "on the public port"));
      break;
  }
}

namespace {

bool prefix_matches(std::string_view prefix, std::string_view path) {
  // Whole segments: "/app" and "/app/" serve /app and /app/..., never /appadmin.
  std::string_view base = prefix;
  if (base.size() > 1 && base.back() == '/') base.remove_suffix(1);
  if (base == "/") return true;
  return path.starts_with(base) && (path.size() == base.size() || path[base.size()] == '/');
}

std::string_view host_name(std::string_view host) {
  // The name a Host header names: without its port and a final dot ("Admin.Example.:443").
  std::string_view h = host;
  if (h.starts_with("[")) {
    h = h.substr(0, h.find(']') == std::string_view::npos ? h.size() : h.find(']') + 1);
  } else if (auto c = h.rfind(':'); c != std::string_view::npos) {
    h = h.substr(0, c);
  }
  if (h.size() > 1 && h.back() == '.') h.remove_suffix(1);
  return h;
}

}  // namespace

const RouteConfig* Gateway::match_route(std::string_view host, std::string_view path) const {
  std::string_view h = host_name(host);
  const RouteConfig* best = nullptr;
  for (const auto& rc : cfg_.routes) {
    if (!rc.host.empty() && !beast::iequals(rc.host, h) && !beast::iequals(rc.host, host)) continue;
    if (!prefix_matches(rc.prefix, path)) continue;
    // Host-specific routes win over host-less ones; then the longest prefix.
    if (!best || (!rc.host.empty() && best->host.empty()) ||
        (rc.host.empty() == best->host.empty() && rc.prefix.size() > best->prefix.size())) {
      best = &rc;
    }
  }
  return best;
}

awaitable<void> Gateway::load_cookie_session(Request& r) {
  r.cookie_read = true;
  auto cookie_header = r.ex.header(bhttp::field::cookie);
  auto value = http::find_cookie(cookie_header, cfg_.cookie.name);
  if (!value) co_return;
  auto id = cookies_.open(*value);
  if (!id) {
    log_.info(r.ex.log_context(), "session.cookie_refused", {{"message", id.error().message}});
    r.clear_cookie = true;
    co_return;
  }
  auto* sessions = stores_.sessions.get();
  auto call0 = [sessions, sid = *id] { return sessions->get(sid); };
  auto stored = co_await this->stored(std::move(call0));
  if (!stored) {
    // The store cannot answer: treat as signed out for this request (fail closed).
    log_.error(r.ex.log_context(), "session.store_failed", {{"message", stored.error().message}});
    co_return;
  }
  if (!*stored) {
    r.clear_cookie = true;  // logged out, revoked, or purged
    co_return;
  }
  auto now = clock_.now();
  if (auto why = session::expiry_at(**stored, now)) {
    r.clear_cookie = true;
    auto call1 = [sessions, sid = *id] { return sessions->remove(sid); };
    (void)co_await this->stored(std::move(call1));
    const char* kind = *why == session::Expiry::kIdle ? "idle" : "absolute";
    log_.info(r.ex.log_context(), "session.expired",
              {{"expiry", kind}, {"subject", (*stored)->session->subject}});
    audit::Event ev = event(audit::type::kSessionExpired, r);
    ev.str("subject", (*stored)->session->subject)
        .str("session", session_ref(*id))
        .str("expiry", kind);
    audit(std::move(ev), audit::Durability::kBatched);
    co_return;
  }
  if (now - (*stored)->last_seen >= cfg_.touch_interval) {
    auto call2 = [sessions, sid = *id, now] { return sessions->touch(sid, now); };
    auto t = co_await this->stored(std::move(call2));
    if (!t) {
      log_.warn(r.ex.log_context(), "session.touch_failed", {{"message", t.error().message}});
    }
  }
  r.session = std::move(*stored);
  r.session_id = std::move(*id);
  r.user = r.session->session->subject;
}

std::string Gateway::signin_url(std::string_view return_path) const {
  return cfg_.public_url.origin() + "/saml/login?rd=" + core::url_encode(return_path);
}

std::string Gateway::session_cookie(const std::string& session_id) const {
  http::SetCookie c{cfg_.cookie.name,
                    cookies_.seal(session_id, random_),
                    cfg_.cookie.path,
                    cfg_.cookie.domain,
                    cfg_.session_ttl,
                    cfg_.secure_cookies(),
                    true,
                    http::SameSite::kLax};
  return c.to_string();
}

std::string Gateway::expired_session_cookie() const {
  http::SetCookie c{
      cfg_.cookie.name,      "",   cfg_.cookie.path,    cfg_.cookie.domain, std::nullopt,
      cfg_.secure_cookies(), true, http::SameSite::kLax};
  return http::expire_cookie(c);
}

std::string Gateway::pending_cookie(const std::string& relay, bool expire) const {
  // Sent back on the IdP's cross-site POST: SameSite=None (with Secure) on https. Plain http
  // (development) cannot use SameSite=None; Lax works there while the IdP and the gateway
  // share a site (localhost), see docs/configuration.md.
  http::SetCookie c{cfg_.cookie.name + "_pending",
                    expire ? "" : keyring_.seal(relay, "pending-cookie", random_),
                    "/saml/",
                    cfg_.cookie.domain,
                    std::chrono::seconds(300),
                    cfg_.secure_cookies(),
                    true,
                    cfg_.secure_cookies() ? http::SameSite::kNone : http::SameSite::kLax};
  return expire ? http::expire_cookie(c) : c.to_string();
}

awaitable<void> Gateway::send(Request& r, http::StringResponse res) {
  security_headers(res);
  if (r.clear_cookie) res.insert(bhttp::field::set_cookie, expired_session_cookie());
  if (r.forward_auth) {
    // The front proxy may log the trace id and send the gateway's traceparent on upstream
    // (docs/logging.md, "Trace context"). Hex only, built here; the client's tracestate is not
    // echoed (some front proxies hand a refusal's headers to the client).
    res.set("traceparent", r.ex.trace().traceparent());
    res.set(cfg_.header_prefix + "Trace-Id", r.ex.trace().trace_id);
  }
  // Every answer the gateway writes passes here: no header value may carry a control byte,
  // whatever request data went into it (replies.h). Such an answer is never written.
  if (auto bad = bad_header(res.base())) {
    Error e = make_error(Code::kHeaderValue,
                         "a value of this request cannot be written into the " + *bad +
                             " header of the answer (it holds a control character such as CR "
                             "or LF)");
    log_.warn(r.ex.log_context(), "request.error",
              {{"status", 400}, {"code", e.code}, {"name", e.name}, {"message", e.message}});
    http::StringResponse refused{bhttp::status::bad_request, 11};
    refused.set(bhttp::field::content_type, "application/json");
    refused.body() = error_json(e, r.ex.request_id());
    security_headers(refused);
    co_await r.ex.respond(std::move(refused));
    co_return;
  }
  co_await r.ex.respond(std::move(res));
}

awaitable<bool> Gateway::refused_cross_site(Request& r) {
  auto m = r.ex.method();
  if (m == bhttp::verb::get || m == bhttp::verb::head || m == bhttp::verb::options) co_return false;
  // A Bearer token is sent by a program, never attached by a browser on its own.
  if (r.session_id.empty() &&
      !http::find_cookie(r.ex.header(bhttp::field::cookie), cfg_.cookie.name)) {
    co_return false;
  }
  auto why = cross_site_reason(r.ex.header(bhttp::field::origin), r.ex.header("Sec-Fetch-Site"),
                               cfg_.public_url.origin());
  if (!why) co_return false;
  Error e = make_error(Code::kCrossSite,
                       *why +
                           "; state-changing requests that use the session cookie must come "
                           "from the gateway's own pages or from a program");
  co_await send_error(r, 403, "Refused: sent from another site", e);
  co_return true;
}

// Every error answer: what it says, and to whom, comes from the error's entry in the refusals
// table (refusals.h); the operator's words go to the log always, to the page or JSON body only
// for an administrator or under pages.show_details.
awaitable<void> Gateway::send_error(Request& r, unsigned status, std::string title, const Error& e,
                                    std::string action_url, std::string action_label) {
  const RefusalKind& kind = refusal_kind(e.code);
  log_.warn(r.ex.log_context(), "request.error",
            {{"status", status},
             {"code", e.code},
             {"name", e.name},
             {"next", kind.next == Next::kRetry ? "retry" : "contact"},
             {"message", e.message}});
  std::string details = co_await details_allowed(r, kind);
  RefusalReply reply = choose_reply(e, cfg_.pages, r.ex.request_id(), details);
  http::StringResponse res{static_cast<bhttp::status>(status), 11};
  bool html = html_answer(Answer::kError, r.ex.method(), r.ex.header(bhttp::field::accept));
  if (html) {
    ErrorPage page;
    page.status = status;
    page.title = std::move(title);
    page.code = std::to_string(e.code) + " " + e.name;
    page.message = reply.message;
    page.request_id = r.ex.request_id();
    page.action_url = std::move(action_url);
    page.action_label = std::move(action_label);
    if (kind.message_for == Audience::kOperator) page.next = reply.next;
    page.contact_url = reply.contact_url;
    page.contact_text = reply.contact_text;
    page.detail = reply.detail;
    page.why_detail = reply.why_detail;
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = render_error_page(page);
  } else {
    res.set(bhttp::field::content_type, "application/json");
    res.body() = refusal_json(e, reply, r.ex.request_id());
  }
  co_await send(r, std::move(res));
}

awaitable<std::string> Gateway::details_allowed(Request& r, const RefusalKind& kind) {
  if (kind.message_for != Audience::kOperator) co_return "";
  if (cfg_.pages.show_details) co_return "Shown to everyone: pages.show_details is on";
  // An administrator: a person (not an agent token) who may read the audit log, which holds
  // these words anyway. /saml/acs has not read the cookie: read it now.
  if (!r.session && !r.cookie_read && !r.token) co_await load_cookie_session(r);
  if (!r.session || r.agent()) co_return "";
  if (!policy_->holds_everywhere(*r.session->session, "audit:read")) co_return "";
  co_return "Shown because you are signed in as " + r.session->session->subject +
      ", who may read the audit log (audit:read in every project)";
}

awaitable<void> Gateway::send_json(Request& r, unsigned status, const std::string& body) {
  http::StringResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = body;
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::redirect(Request& r, unsigned status, const std::string& location,
                                  std::vector<std::string> cookies) {
  http::StringResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::location, location);
  for (auto& c : cookies) res.insert(bhttp::field::set_cookie, c);
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::deny(Request& r, const policy::Decision& d) {
  // The denial is on disk before the answer leaves (when the log fails, it stays queued and
  // the refusal goes out anyway: refusing is always safe).
  co_await durable(audit_decision(r, d, audit::Durability::kDurable));
  if (r.token_error) {
    // A Bearer token was sent and refused: 401 with the reason (never a sign-in redirect:
    // the caller is a program).
    const Error& e = *r.token_error;
    // The message may quote the token's own header (kid, alg): quoted text only, no controls.
    std::string desc = header_quotable(core::clip(e.message, 300));
    http::StringResponse res{bhttp::status::unauthorized, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set(
        bhttp::field::www_authenticate,
        "Bearer realm=\"claimgate\", error=\"invalid_token\", error_description=\"" + desc + "\"");
    res.body() = error_json(e, r.ex.request_id());
    co_await send(r, std::move(res));
    co_return;
  }
  if (d.reason == policy::Reason::kUnauthenticated) {
    std::string rd(r.ex.target());
    if (html_answer(Answer::kSignIn, r.ex.method(), r.ex.header(bhttp::field::accept))) {
      co_await redirect(r, 302, "/saml/login?rd=" + core::url_encode(rd));
    } else {
      http::StringResponse res{bhttp::status::unauthorized, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.set(bhttp::field::www_authenticate, "Bearer realm=\"claimgate\"");
      res.body() = unauthenticated_json(signin_url(rd), r.ex.request_id());
      co_await send(r, std::move(res));
    }
    co_return;
  }
  // (Values computed before co_await: GCC 12 mishandles ?: temporaries inside co_await.)
  Error e = make_error(Code::kForbidden, d.detail);
  if (d.detail.empty()) e.message = std::string(policy::reason_name(d.reason));
  log_.info(
      r.ex.log_context(), "authz.deny",
      {{"reason", std::string(policy::reason_name(d.reason))}, {"rule", d.rule}, {"user", r.user}});
  if (html_answer(Answer::kDenied, r.ex.method(), r.ex.header(bhttp::field::accept))) {
    ErrorPage page;
    page.status = 403;
    page.title = "Access denied";
    page.code =
        std::to_string(e.code) + " " + e.name + " · " + std::string(policy::reason_name(d.reason));
    page.message = e.message;
    page.request_id = r.ex.request_id();
    page.action_url = "/.claimgate/whoami";
    page.action_label = "See your roles and claims";
    http::StringResponse res{bhttp::status::forbidden, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = render_error_page(page);
    co_await send(r, std::move(res));
    co_return;
  }
  co_await send_json(r, 403, forbidden_json(e, d, r.ex.request_id()));
}

Result<std::string> Gateway::jwt_for(Request& r, std::string_view audience,
                                     const session::TokenGrant* agent) {
  auto jwt = identity_jwts_.issue(
      {*r.session->session, audience, grants_of(r).roles, policy_->generation(), agent});
  if (!jwt) {
    log_.error(r.ex.log_context(), "identity.jwt_failed", {{"message", jwt.error().message}});
  }
  return jwt;
}

const policy::Grants& Gateway::grants_of(Request& r) const {
  if (!r.grants) r.grants = policy_->grants(*r.session->session);
  return *r.grants;
}

Status Gateway::add_identity_headers(Request& r, http::bhttp::fields& f,
                                     std::string_view audience) {
  const session::Session& s = *r.session->session;
  std::string groups = core::join(s.values("groups"), ",");
  std::string email = s.first("email");
  // Claim values come from the IdP: one with a control byte would split the header it is put
  // in (replies.h). It is left out, and said so; the signed JWT still carries it, escaped.
  auto set = [&](std::string_view suffix, const std::string& v) {
    if (v.empty()) return;
    if (!header_value_ok(v)) {
      // Left out: the value holds a control character.
      log_.warn(r.ex.log_context(), "identity.header_left_out",
                {{"header", cfg_.header_prefix + std::string(suffix)},
                 {"code", static_cast<int>(Code::kHeaderValue)}});
      return;
    }
    f.set(cfg_.header_prefix + std::string(suffix), v);
  };
  set("User", s.subject);
  set("Email", email);
  set("Groups", groups);
  set("Roles", grants_of(r).roles_joined);
  set("Idp", s.idp);
  // What the decision rested on: the upstream checks a condition ("owner") itself.
  set("Project", r.decision.project);
  set("Permission", r.decision.permission);
  set("Condition", r.decision.condition);
  const session::TokenGrant* agent = r.agent() ? r.token.get() : nullptr;
  if (agent) set("Actor", "agent:" + agent->agent);
  // Fail closed: a request never goes on without the JWT an upstream may rely on.
  CG_TRY(std::string jwt, jwt_for(r, audience, agent));
  set("Assertion", jwt);
  if (cfg_.forwarded_user_headers) {
    auto forwarded = [&](const char* name, const std::string& v) {
      if (!v.empty() && header_value_ok(v)) f.set(name, v);
    };
    forwarded("X-Forwarded-User", s.subject);
    forwarded("X-Forwarded-Email", email);
    forwarded("X-Forwarded-Groups", groups);
    forwarded("X-Forwarded-Preferred-Username", s.first("name"));
  }
  return {};
}

namespace {

policy::Decision no_route_decision(std::string_view host, std::string_view path) {
  policy::Decision d;
  d.reason = policy::Reason::kNoRoute;
  d.rule = "(routes)";
  d.detail = "no route of this gateway serves " + std::string(host) + std::string(path);
  return d;
}

}  // namespace

awaitable<void> Gateway::check(Request& r, std::string_view method, std::string_view host,
                               std::string_view path) {
  r.route = match_route(host, path);
  co_await load_session(r);
  if (!r.route) {
    r.decision = no_route_decision(host, path);
  } else if (r.token_error) {
    r.decision = token_refusal(*r.token_error);
  } else {
    policy::AccessRequest ar{method, host, path, r.route->name,
                             r.session ? r.session->session.get() : nullptr};
    r.decision = authorizer_->decide(ar);
    limit_agent(r, r.decision);
  }
  count_decision(r.route ? r.route->name : "(none)", r.decision);
}

awaitable<void> Gateway::proxy(Request& r) {
  http::Exchange& ex = r.ex;
  co_await check(r, ex.method_string(), r.host, r.path);
  if (!r.route || (!r.route->upstream && r.route->builtin.empty())) {
    co_await send_error(r, 404, "Not found",
                        make_error(Code::kNotFound, "no route of this gateway serves " + r.path));
    co_return;
  }
  const RouteConfig& route = *r.route;
  r.route_name = route.name;
  if (!r.decision.allowed()) {
    co_await deny(r, r.decision);
    co_return;
  }
  std::string audit_why;
  if (!audit_admits(r, &audit_why)) {
    co_await send_error(r, 503, "The audit log is unavailable",
                        make_error(audit::Code::kUnavailable,
                                   "the gateway cannot record this request in its audit log (" +
                                       audit_why + "), so it refuses it; try again later"));
    co_return;
  }
  audit_decision(r, r.decision, audit::Durability::kBatched);
  if (!route.builtin.empty()) {
    // The built-in services act for a person: without one they are never reached (the config
    // cannot make them public either: public_rules_on_identity_routes).
    if (!r.session) {
      co_await deny(r, unauthenticated_decision());
      co_return;
    }
    if (co_await refused_cross_site(r)) co_return;
    session::StoredSession signed_in = *r.session;
    co_await jobs_api(r, signed_in);
    co_return;
  }

  // The upstream request: target rewritten, our cookies and (unless passed) Authorization
  // removed, forwarding headers and the identity added.
  auto& f = ex.mutable_request();
  std::string suffix = r.path;
  if (route.strip_prefix) {
    std::string_view pre = route.prefix;
    if (pre.size() > 1 && pre.back() == '/') pre.remove_suffix(1);
    suffix = r.path.substr(std::min(pre.size(), r.path.size()));
    if (suffix.empty() || suffix[0] != '/') suffix = "/" + suffix;
  }
  std::string target = route.upstream->path + suffix;
  if (!r.query.empty()) target += "?" + r.query;
  f.target(target);
  bool ws = http::is_websocket_upgrade(f);
  if (!ws) http::strip_hop_by_hop(f);
  if (auto cookie = f.find(bhttp::field::cookie); cookie != f.end()) {
    std::string rest = http::strip_cookies(
        std::string_view(cookie->value().data(), cookie->value().size()), stripped_names_);
    if (rest.empty()) {
      f.erase(bhttp::field::cookie);
    } else {
      f.set(bhttp::field::cookie, rest);
    }
  }
  if (!route.pass_authorization) f.erase(bhttp::field::authorization);
  f.set("X-Forwarded-For", ex.client_address());
  f.set("X-Forwarded-Proto", cfg_.public_url.scheme);
  if (!r.host.empty()) f.set("X-Forwarded-Host", r.host);
  f.set("X-Request-Id", ex.request_id());
  // W3C Trace Context: the upstream sees the request's trace with the gateway as the parent
  // span; what the client sent is replaced, never passed on as it came (core/trace_context.h).
  f.set("traceparent", ex.trace().traceparent());
  if (ex.trace().tracestate.empty()) {
    f.erase("tracestate");
  } else {
    f.set("tracestate", ex.trace().tracestate);
  }
  f.set(bhttp::field::host, route.upstream->authority());
  if (r.session) {
    if (auto st = add_identity_headers(r, f, route.name); !st) {
      co_await send_error(r, 500, "The identity cannot be passed on", st.error());
      co_return;
    }
  }

  http::ProxyOutcome out;
  if (ws) {
    if (!route.websocket) {
      co_await send_error(r, 403, "WebSocket not allowed",
                          make_error(Code::kForbidden, "route '" + route.name +
                                                           "' does not allow WebSocket upgrades"));
      co_return;
    }
    std::string sid = r.session_id;
    std::string token_id = r.token ? r.token->id : "";
    bool needs_session = r.session.has_value();
    auto still_allowed = [this, sid, token_id, needs_session]() {
      if (!needs_session) return true;
      if (!token_id.empty()) {  // a Bearer token's tunnel lives while its grant does
        auto g = stores_.tokens->get(token_id);
        return g && *g && !(*g)->revoked() && clock_.now() < (*g)->expires;
      }
      auto s = stores_.sessions->get(sid);
      return s && *s && !session::expiry_at(**s, clock_.now());
    };
    out = co_await http::proxy_websocket(ex, *route.upstream, cfg_.upstream_timeouts, still_allowed,
                                         cfg_.websocket_check);
  } else {
    bool clear = r.clear_cookie;
    std::string expired = clear ? expired_session_cookie() : "";
    out = co_await http::proxy_http(ex, *route.upstream, cfg_.upstream_timeouts,
                                    [&](bhttp::response_header<>& h) {
                                      if (clear) h.insert(bhttp::field::set_cookie, expired);
                                    });
  }
  if (out.upstream_status) {
    r.upstream_ms = static_cast<double>(out.upstream_latency.count()) / 1000.0;
    metrics_.upstream_latency.observe(static_cast<double>(out.upstream_latency.count()) / 1e6);
  }
  if (out.error && !ex.answered()) {
    bool timeout = out.error->code == static_cast<int>(http::Code::kUpstreamTimeout);
    metrics_.upstream_errors.inc({route.name, out.error->name});
    unsigned status = timeout ? 504 : 502;
    std::string title =
        timeout ? "The service did not answer in time" : "The service is unavailable";
    Error e = *out.error;
    std::string again(ex.target());
    co_await send_error(r, status, std::move(title), e, std::move(again), "Try again");
  } else if (out.error) {
    log_.info(ex.log_context(), "proxy.ended_early", {{"message", out.error->message}});
  }
}

void Gateway::count_decision(const std::string& route, const policy::Decision& d) {
  metrics_.decisions.inc_cached(
      {route, d.allowed() ? "allow" : "deny", policy::reason_name(d.reason)});
}

void Gateway::access_log(const Request& r) {
  unsigned status = r.ex.status();
  metrics_.requests.inc_cached({r.route_name, std::to_string(status)});
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.ex.started())
          .count();
  if (core::log_level() > core::LogLevel::kInfo) return;
  auto centi = [](double v) { return std::round(v * 100.0) / 100.0; };
  log_.info(r.ex.log_context(), "request",
            {{"client", r.ex.client_address()},
             {"method", r.ex.method_string()},
             {"path", r.path},
             {"route", r.route_name},
             {"status", status},
             {"ms", centi(ms)},
             {"upstream_ms",
              r.upstream_ms >= 0 ? core::LogValue(centi(r.upstream_ms)) : core::LogValue()},
             {"user", r.user},
             {"in", r.ex.bytes_in},
             {"out", r.ex.bytes_out}});
}

// ---------------------------------------------------------------------------------------------
// Operations endpoints

awaitable<void> Gateway::health(Request& r) {
  // Liveness only (the process answers); readiness is /readyz on the diagnostics listener.
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = "ok\n";
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::jwks(Request& r) {
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = jwks_json_;
  security_headers(res);
  res.set(bhttp::field::cache_control, "public, max-age=300");
  co_await r.ex.respond(std::move(res));
}

awaitable<void> Gateway::metadata(Request& r) {
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/samlmetadata+xml");
  res.body() = sp()->metadata_xml;
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::whoami(Request& r) {
  co_await load_session(r);
  if (!r.session) {
    co_await deny(r, unauthenticated_decision());
    co_return;
  }
  const session::Session& s = *r.session->session;
  // (Awaited on the store's pool; a store that cannot list them is an error, never an answer
  // that says the person has no tokens.)
  auto listed = co_await store_call(stores_.tokens.get(), &session::TokenStore::list, s.subject,
                                    clock_.now());
  if (!listed) {
    co_await send_error(
        r, 503, "Your tokens cannot be listed",
        make_error(Code::kStoreUnavailable,
                   "the gateway cannot list your tokens: " + listed.error().message));
    co_return;
  }
  std::vector<session::TokenGrant> tokens = std::move(*listed);
  auto idle_end = r.session->last_seen + s.idle_timeout;
  std::shared_ptr<const policy::Grants> grants = policy_->grants(s);
  if (r.ex.header(bhttp::field::accept).find("application/json") != std::string_view::npos) {
    co_await send_json(r, 200, whoami_json(*r.session, idle_end, *grants, tokens, r.token.get()));
    co_return;
  }
  WhoamiView v{&s,
               core::format_datetime(r.session->last_seen),
               core::format_datetime(s.expires),
               core::format_datetime(idle_end) + " (after " +
                   std::to_string(s.idle_timeout.count() / 60) + " minutes unused)",
               "/saml/logout",
               grants,
               tokens,
               r.token};
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.body() = render_whoami(v);
  co_await send(r, std::move(res));
}

awaitable<void> Gateway::forward_auth(Request& r,
                                      const std::optional<Result<OriginalRequest>>& original) {
  // The front proxy names the request it asks about, in the headers forward_auth.from says
  // (read by handle() before anything was stripped); it is decided by the proxy's own check.
  r.route_name = "(auth)";
  r.forward_auth = true;
  if (!original || !*original) {
    // (No ?: on class types here: GCC 12 mishandles their temporaries in coroutines.)
    Error e = make_error(Code::kForwardAuthRequest,
                         "this forward-auth request names no original request");
    if (original) e = original->error();
    log_.info(r.ex.log_context(), "forward_auth.refused", {{"message", e.message}});
    co_await send_json(r, 400, error_json(e, r.ex.request_id()));
    co_return;
  }
  const OriginalRequest& o = **original;
  std::string uri = o.target;
  std::string method = o.method;
  std::string host = o.host;
  auto normalised = policy::normalize_path(http::target_path(uri));
  if (!normalised) {
    co_await send_json(r, 403, error_json(normalised.error(), r.ex.request_id()));
    co_return;
  }
  std::string path = *normalised;
  if (path != http::target_path(uri)) {
    // The front proxy passes the URI on as the client wrote it, so a decision on its
    // normalised form ("/admin/%2e%2e/public" -> "/public") is not about what the upstream
    // receives: only a path already in normalised form is decided.
    Error e = make_error(Code::kForwardAuthRequest,
                         "the original path '" + header_quotable(core::clip(uri, 200)) +
                             "' is not in normalised form (it would be decided as '" + path +
                             "' but reach the upstream as written); refused");
    log_.info(r.ex.log_context(), "forward_auth.refused", {{"message", e.message}});
    co_await send_json(r, 403, error_json(e, r.ex.request_id()));
    co_return;
  }
  co_await check(r, method, host, path);
  std::string route_name = r.route ? r.route->name : "(none)";
  const policy::Decision& d = r.decision;
  std::string saved_path = r.path;  // the record names the original request, not /auth
  r.path = path;
  r.original_method = method;
  std::string audit_why;
  bool admitted = !d.allowed() || audit_admits(r, &audit_why);
  auto ticket =
      admitted ? audit_decision(
                     r, d, d.allowed() ? audit::Durability::kBatched : audit::Durability::kDurable)
               : 0;
  r.path = saved_path;
  if (!d.allowed()) co_await durable(ticket);
  if (!admitted) {
    co_await send_json(r, 503,
                       error_json(make_error(audit::Code::kUnavailable,
                                             "the audit log is unavailable: " + audit_why),
                                  r.ex.request_id()));
    co_return;
  }
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  if (d.allowed()) {
    if (r.session) {
      if (auto st = add_identity_headers(r, res.base(), route_name); !st) {
        co_await send_json(r, 500, error_json(st.error(), r.ex.request_id()));
        co_return;
      }
    }
    res.body() = auth_json(d, "", r.ex.request_id());
  } else if (r.token_error) {
    res.result(bhttp::status::unauthorized);
    res.body() = error_json(*r.token_error, r.ex.request_id());
  } else if (d.reason == policy::Reason::kUnauthenticated) {
    res.result(bhttp::status::unauthorized);
    std::string url = signin_url(uri);
    res.set(cfg_.header_prefix + "Signin", url);
    res.body() = auth_json(d, url, r.ex.request_id());
  } else {
    res.result(bhttp::status::forbidden);
    res.body() = auth_json(d, "", r.ex.request_id());
  }
  co_await send(r, std::move(res));
}

}  // namespace cg::gateway
