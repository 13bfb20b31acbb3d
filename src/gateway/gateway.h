// The gateway application: composes the SAML engine, the session store, the authorizer and
// the HTTP server into `claimgate serve`. One Gateway per process; its handler runs on every
// worker thread (state it shares is immutable or behind the stores' own locks).
//
// The request path (docs/life-of-a-request.md has it step by step):
//   handle() -> strip client identity headers -> gateway endpoint (the table in routes.cpp:
//   /saml/*, /.claimgate/*, /healthz, ...; dispatch() calls its handler; the forward-auth path;
//   /metrics and /readyz are on the diagnostics listener only) or route match
//   -> session from the cookie -> Authorizer::decide (the route's requirement, then the policy's
//   rules on the normalised path)
//   -> identity headers + JWT -> http::proxy_http / proxy_websocket.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/log.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/random.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "gateway/config.h"
#include "gateway/errors.h"
#include "gateway/forward_auth.h"
#include "gateway/graph.h"
#include "gateway/pages.h"
#include "gateway/rate_limit.h"
#include "gateway/routes.h"
#include "gateway/signing.h"
#include "http/server.h"
#include "jobs/service.h"
#include "policy/access.h"
#include "policy/engine.h"
#include "saml/replay_cache.h"
#include "saml/response_validator.h"
#include "session/cookie.h"
#include "session/store.h"
#include "storage/work_pool.h"

namespace cg::gateway {

// The assertion-id replay cache on the ticket store ("assertion:<id>" until it expires).
class TicketReplayCache final : public saml::ReplayCache {
 public:
  explicit TicketReplayCache(session::TicketStore& t) : tickets_(t) {}
  Result<bool> insert_if_absent(std::string_view id, core::WallTime expires,
                                core::WallTime now) override;

 private:
  session::TicketStore& tickets_;
};

// The gateway's metrics, declared in one place.
struct Metrics {
  explicit Metrics(core::MetricsRegistry& r);
  core::CounterFamily& requests;         // claimgate_http_requests_total{route,status}
  core::CounterFamily& signins;          // claimgate_signins_total{idp,result,code}
  core::CounterFamily& rejected;         // claimgate_rejected_requests_total{status}
  core::CounterFamily& upstream_errors;  // claimgate_upstream_errors_total{route,code}
  core::CounterFamily& decisions;        // claimgate_authz_decisions_total{route,effect,reason}
  core::CounterFamily& policy_reloads;   // claimgate_policy_reloads_total{result}
  // claimgate_idp_metadata_refresh_total{idp,result=updated|unchanged|refused|failed}
  core::CounterFamily& metadata_refreshes;
  core::Histogram& upstream_latency;  // claimgate_upstream_latency_seconds
  // Tokens (docs/tokens.md, docs/jobs.md). kind: cli (a login's access and refresh tokens),
  // agent, job (a job's token, minted at submission and renewed by its nodes).
  core::CounterFamily& tokens_minted;     // claimgate_tokens_minted_total{kind}
  core::CounterFamily& tokens_refreshed;  // claimgate_tokens_refreshed_total{kind=cli|job}
  // Tokens presented and refused, by what they were (access, agent, refresh, code,
  // device_code, unknown) and the error code: Bearer tokens and the token endpoint.
  core::CounterFamily& tokens_refused;  // claimgate_tokens_refused_total{kind,code}
  // The nodes' endpoints (/.claimgate/jobs/{check,renew,report}).
  core::CounterFamily& job_renewals;   // claimgate_job_token_renewals_total{result}
  core::CounterFamily& node_refusals;  // claimgate_job_node_refusals_total{endpoint,code}
  // Read at each scrape (Gateway's constructor): claimgate_build_info and process_*
  // (core/process_metrics.h), claimgate_jobs{state}, claimgate_jobs_finished_total{state},
  // claimgate_sessions_active, claimgate_redis_*, claimgate_certificate_expiry_days,
  // claimgate_idp_metadata_age_seconds, claimgate_audit_*, claimgate_requests_in_flight, ...
};

struct Stores {
  std::unique_ptr<session::SessionStore> sessions;
  std::unique_ptr<session::TicketStore> tickets;
  std::unique_ptr<session::TokenStore> tokens;
  std::shared_ptr<session::RedisBackend> redis;  // with store.kind redis: its health
  // SQLite and Redis: their calls block, so request coroutines await them on this pool
  // (Gateway::stored); the memory store has none (its calls run inline). Last: it finishes
  // the calls still running before the stores go.
  std::chrono::milliseconds deadline{5000};  // per awaited call
  Error late;                                // the error when it passes (5001 or 5005)
  std::unique_ptr<storage::WorkPool> pool;
};

// Opens the configured store (memory, the SQLite file, or Redis: connected lazily, so an
// unreachable Redis does not stop the start; /readyz says so).
Result<Stores> open_stores(const GatewayConfig& cfg, const core::Clock& clock);
// Loads the keyring, creating the directory with a first key pair when it is missing or
// empty (a note goes to `notes`).
Result<crypto::Keyring> open_keyring(const GatewayConfig& cfg, core::WallTime now,
                                     core::Random& random, std::vector<std::string>& notes);

// The jobs service as the config's `jobs:` section describes it (executor, state directory,
// limits), started: jobs a previous run left are re-attached. Used by `claimgate serve`
// (Gateway::open_jobs) and `claimgate jobs serve`. With `redis` (store kind redis) the job
// records are kept there, shared with every jobs service of the deployment; otherwise in
// SQLite under jobs.state_dir.
Result<std::unique_ptr<jobs::JobsService>> open_jobs_service(
    const GatewayConfig& cfg, const crypto::Keyring& keyring, const core::Clock& clock,
    core::Random& random, jobs::JobsService::AuditSink background,
    std::shared_ptr<session::RedisBackend> redis);

// Calls `handler(subject, reason)` for every revocation any gateway of the deployment
// announces (Gateway::announce_revocation) on the Redis store: how the gateway or
// `claimgate jobs serve` that runs jobs stops a revoked person's jobs. Unset with
// session::redis_on_event(redis, nullptr).
inline constexpr std::string_view kRevokeSubjectEvent = "revoke-subject";
void on_revocations(
    session::RedisBackend& redis,
    std::function<void(const std::string& subject, const std::string& reason)> handler);

class Gateway {
 public:
  Gateway(GatewayConfig cfg, crypto::Keyring keyring, Stores stores, const core::Clock& clock,
          core::Random& random);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  http::awaitable<void> handle(http::Exchange& ex);
  // The diagnostics listener's handler (diagnostics.listen, diagnostics.cpp): GET or HEAD of
  // /metrics (Prometheus text) and /readyz (200, or 503 with the reason); 404 for anything
  // else. No session, no route, no proxy: nothing of the public port's path.
  http::awaitable<void> handle_diagnostics(http::Exchange& ex);
  // Requests the server refused before the handler (malformed, 431, 408): log and count.
  void on_reject(unsigned status, const std::string& reason, const std::string& client);
  // Drops expired sessions and tickets, and (daily) audits certificates close to expiry
  // (called every minute).
  void purge_expired();
  // Whether the gateway can serve (the store answers); `why` says what is wrong.
  bool ready(std::string* why);

  // Opens the audit log (config `audit:`) and records the start: the gateway's settings, the
  // keys in use and certificates close to expiry. Call once, before serving.
  Status open_audit();
  // Records the stop, writes the final checkpoint and closes the log.
  void close_audit();
  // Starts the jobs service (config `jobs:`), re-attaching jobs a previous run left running.
  // Call after open_audit. A no-op when jobs are off.
  Status open_jobs();
  // Stops watching jobs (they keep running; the next start re-attaches them).
  void close_jobs();
  // Waits for store calls still running on the work pool (storage/work_pool.h). Call once the
  // server has stopped and before it is destroyed.
  void finish_store_calls() {
    if (stores_.pool) stores_.pool->join();
  }

  // IdPs with a metadata_url (trust.cpp): a thread fetches each on its schedule and puts a
  // document that passes every check in force; refresh_metadata_now() fetches them all at once
  // (SIGHUP). Start after open_audit; stop before close_audit.
  void start_metadata_refresh();
  void stop_metadata_refresh();
  void refresh_metadata_now();
  // When the IdP's metadata in force was last confirmed: put in force, or fetched unchanged.
  core::WallTime metadata_confirmed(const saml::IdpConfig& idp) const;
  // The SP's key files (`claimgate certs rollover` writes them): read again when they change
  // (the file watcher, SIGHUP); a staged pair is then published, a promoted one signs, the
  // previous one still decrypts. Each change is audited (sp.certificates_changed). Returns
  // whether the keys in use changed.
  bool reload_sp_keys(const std::string& why);
  std::vector<std::string> sp_key_files() const;

  // Loads the policy again from its file (SIGHUP, or the file changed). A file with problems
  // (or one that would drop a policy in force) is refused: the old policy stays, and the
  // refusal is logged with every problem. Returns whether the new policy is in force.
  bool reload_policy(const std::string& why);
  // The files whose change means a reload (the config, and its policy_file).
  std::vector<std::string> policy_files() const;
  const GatewayConfig& config() const { return cfg_; }
  core::MetricsRegistry& metrics_registry() { return registry_; }
  void set_server(const http::Server* s) { server_ = s; }

 private:
  struct Request;
  // Answers a request for one of the gateway's own paths, as the table of routes.cpp says.
  http::awaitable<void> dispatch(Request& r, const EndpointMatch& m);
  // Gateway endpoints.
  http::awaitable<void> login(Request& r);
  http::awaitable<void> acs(Request& r);
  http::awaitable<void> slo(Request& r);
  http::awaitable<void> logout(Request& r);
  http::awaitable<void> metadata(Request& r);
  http::awaitable<void> whoami(Request& r);
  http::awaitable<void> jwks(Request& r);
  http::awaitable<void> forward_auth(Request& r,
                                     const std::optional<Result<OriginalRequest>>& original);
  http::awaitable<void> health(Request& r);
  http::awaitable<void> proxy(Request& r);
  // The one access check, for every path that admits a request (the proxy, WebSocket
  // upgrades, builtin routes such as the jobs API, and forward-auth): the route `host` and
  // `path` reach, the caller's identity (cookie or Bearer token), the route's requirement and
  // the policy, and an agent token's scope. Sets r.route and r.decision ("no-route" when no
  // route serves the path), so the proxy and /auth cannot decide the same request differently.
  http::awaitable<void> check(Request& r, std::string_view method, std::string_view host,
                              std::string_view path);
  // Tokens for the CLI, notebooks and agents (tokens.cpp, docs/tokens.md).
  http::awaitable<void> cli_authorize(Request& r);
  http::awaitable<void> cli_device(Request& r);
  http::awaitable<void> cli_token(Request& r);
  http::awaitable<void> cli_revoke(Request& r);
  http::awaitable<void> device_page(Request& r);
  http::awaitable<void> device_submit(Request& r);
  http::awaitable<void> tokens_list(Request& r);
  http::awaitable<void> tokens_create(Request& r);
  http::awaitable<void> tokens_revoke(Request& r);
  http::awaitable<void> admin_revoke(Request& r);
  http::awaitable<void> tokens_endpoint(Request& r);
  // The jobs service (jobs_route.cpp, docs/jobs.md): the API behind a builtin:jobs route, and
  // the nodes' endpoints /.claimgate/jobs/{check,renew,report}.
  // Acts for `signed_in` (a handler that needs a person takes one: no route reaches it
  // anonymously, see public_rules_on_identity_routes).
  http::awaitable<void> jobs_api(Request& r, const session::StoredSession& signed_in);
  http::awaitable<void> jobs_node(Request& r);
  http::awaitable<void> answer_jobs(Request& r, jobs::Reply reply);
  // Revokes the job tokens of `subject` (admin revoke); the events go to `last`.
  // Tells every gateway sharing the Redis store that `subject` was revoked, so that the one
  // running their jobs stops them (a no-op on other stores).
  void announce_revocation(const std::string& subject, const std::string& reason);
  void revoke_jobs_of(const std::string& subject, const std::string& reason,
                      audit::AuditLog::Ticket& last);

  // Helpers.
  // The caller's identity: the session cookie, or else a Bearer token (load_bearer).
  http::awaitable<void> load_session(Request& r);
  http::awaitable<void> load_cookie_session(Request& r);
  http::awaitable<void> load_bearer(Request& r, std::string_view token);
  // A store call, awaited: `fn` (which owns what it uses: capture by value) runs on the
  // store's work pool (SQLite, Redis), or inline for the memory store. Nothing blocks the
  // event loop while a store is slow; the call fails with stores_.late past the deadline.
  // Pass a named lambda (std::move(call)), never a lambda written in the co_await expression:
  // GCC 12 destroys such a temporary twice (heap corruption).
  template <class F>
  http::awaitable<std::invoke_result_t<F&>> stored(F fn) {
    if (!stores_.pool) co_return fn();
    co_return co_await stores_.pool->run(std::move(fn), stores_.deadline, stores_.late);
  }
  // One store method, awaited, its arguments copied into the call:
  // co_await store_call(stores_.tickets.get(), &session::TicketStore::take, key, now).
  // (Views are copied as strings: the call may outlive the request.)
  template <class A>
  using Owned =
      std::conditional_t<std::is_same_v<A, std::string_view> || std::is_same_v<A, const char*>,
                         std::string, A>;
  template <class Store, class R, class... P, class... A>
  http::awaitable<R> store_call(Store* store, R (Store::*method)(P...), A... args) {
    // Named: GCC 12 destroys a lambda prvalue in a co_await expression twice.
    auto call = [store, method, ... args = Owned<A>(std::move(args))] {
      return (store->*method)(args...);
    };
    co_return co_await stored(std::move(call));
  }
  // An agent token may use only its scope, in its project, and never more than its person
  // holds now: narrows an allow decision to a deny when the token does not cover it.
  void limit_agent(const Request& r, policy::Decision& d) const;
  // A person's new login from the CLI: its grant, access and refresh tokens (JSON reply).
  http::awaitable<Result<std::string>> issue_cli_grant(Request& r, const session::Session& person,
                                                       std::string client, std::string created_by,
                                                       audit::AuditLog::Ticket* ticket);
  audit::Event token_event(std::string_view type, const Request& r,
                           const session::TokenGrant& g) const;
  // A JSON request body (a 415 answered, and nullopt, unless the content type is JSON; a body
  // that is not a JSON object reads as null).
  http::awaitable<std::optional<nlohmann::json>> read_json(Request& r);
  http::awaitable<void> send_token_error(Request& r, unsigned status, std::string oauth_error,
                                         const Error& e);
  const RouteConfig* match_route(std::string_view host, std::string_view path) const;
  std::string signin_url(std::string_view return_path) const;
  std::string session_cookie(const std::string& session_id) const;
  std::string pending_cookie(const std::string& relay, bool expire) const;
  std::string expired_session_cookie() const;
  // The identity headers and the signed JWT; an error (the JWT cannot be signed) means the
  // request must not go on.
  Status add_identity_headers(Request& r, http::bhttp::fields& fields, std::string_view audience);
  http::awaitable<void> send(Request& r, http::StringResponse res);
  // A state-changing request (not GET, HEAD, OPTIONS) that the session cookie authenticates,
  // sent by a page of another site (Origin, Sec-Fetch-Site): answers 403 and returns true.
  http::awaitable<bool> refused_cross_site(Request& r);
  http::awaitable<void> send_error(Request& r, unsigned status, std::string title, const Error& e,
                                   std::string action_url = "", std::string action_label = "");
  // Why this viewer may see the operator's words of a refusal ("" : they may not): a session
  // holding audit:read in every project, or pages.show_details.
  http::awaitable<std::string> details_allowed(Request& r, const RefusalKind& kind);
  http::awaitable<void> send_json(Request& r, unsigned status, const std::string& body);
  http::awaitable<void> redirect(Request& r, unsigned status, const std::string& location,
                                 std::vector<std::string> cookies = {});
  http::awaitable<void> deny(Request& r, const policy::Decision& d);
  // The identity JWT of r's session (or agent token) for `audience`, or 6540: fail closed.
  Result<std::string> jwt_for(Request& r, std::string_view audience,
                              const session::TokenGrant* agent = nullptr);
  void access_log(const Request& r);
  // Audit: queue an event; wait until it is on disk (true), or the log fails (false).
  audit::AuditLog::Ticket audit(audit::Event ev, audit::Durability d);
  http::awaitable<bool> durable(audit::AuditLog::Ticket t);
  audit::Event event(std::string_view type, const Request& r) const;
  audit::AuditLog::Ticket audit_decision(Request& r, const policy::Decision& d,
                                         audit::Durability dur);
  // The session's grants under the policy in force, looked up once per request.
  const policy::Grants& grants_of(Request& r) const;
  http::awaitable<void> audit_signin_failure(Request& r, const std::string& idp, const Error& e,
                                             const saml::ValidationReport* report);
  // Whether the audit log lets this request through (it is failing: see audit.on_failure).
  bool audit_admits(const Request& r, std::string* why) const;
  void audit_certificates();
  void count_decision(const std::string& route, const policy::Decision& d);

  GatewayConfig cfg_;
  crypto::Keyring keyring_;
  Stores stores_;
  const core::Clock& clock_;
  core::Random& random_;
  session::CookieCodec cookies_;
  TicketReplayCache replay_;
  // What the gateway signs (signing.h): identity JWTs for upstreams, the token endpoints' tokens.
  IdentityJwts identity_jwts_;
  TokenMinter minter_;
  // Bearer tokens whose signature verified: their claims until they expire (the signature check
  // is the costly step; revocation is still looked up in the store on every request).
  struct VerifiedBearer {
    std::string sid;
    std::string use;
    int64_t exp = 0;
  };
  internal::ExpiringCache<VerifiedBearer> bearer_cache_{10'000};
  // Each IdP's metadata in force and the validator built on it (settings, trusted keys),
  // shared by every sign-in; replaced whole when a refreshed document comes into force.
  struct LiveIdp {
    std::shared_ptr<const saml::IdpMetadata> metadata;
    std::shared_ptr<const saml::ResponseValidator> validator;
    std::string document;  // as fetched ("" : read from a file at start)
    core::WallTime updated{};
  };
  std::shared_ptr<const LiveIdp> live(std::string_view idp) const;
  // The SP's keys in use and the metadata that publishes them.
  struct LiveSp {
    saml::SpConfig sp;
    std::string metadata_xml;
  };
  std::shared_ptr<const LiveSp> sp() const;
  std::shared_ptr<const LiveSp> live_sp_;  // under live_mu_
  void install(const saml::IdpConfig& idp, saml::IdpMetadata md, std::string document);
  // Fetches one IdP's metadata; returns when to fetch again.
  std::chrono::seconds refresh_one(const saml::IdpConfig& idp);
  std::chrono::seconds refresh_interval(const saml::IdpConfig& idp,
                                        const saml::IdpMetadata& md) const;
  void refresh_loop();
  mutable std::mutex live_mu_;
  std::mutex install_mu_;  // one install() sequence at a time (refresher, SP key reload)
  std::map<std::string, std::shared_ptr<const LiveIdp>, std::less<>> live_;
  struct RefreshState {
    std::chrono::steady_clock::time_point due;
    core::WallTime last_success{};
  };
  mutable std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool refresh_stop_ = false;
  std::map<std::string, RefreshState> refresh_;  // IdPs with a metadata_url, under refresh_mu_
  std::thread refresher_;
  // Microsoft Graph clients of the IdPs that have `graph:` (Entra ID groups overage).
  std::map<std::string, std::unique_ptr<GraphGroups>, std::less<>> graph_;
  // What a sign-in through `idp` must carry, under the policy in force.
  std::vector<saml::RequiredClaim> required_claims(const saml::IdpConfig& idp) const;
  // saml.idps[].user_id with the policy's claim aliases of each attribute named.
  std::vector<saml::UserIdSource> user_id_sources(const saml::IdpConfig& idp) const;
  std::shared_ptr<const policy::Authorizer> authorizer_;
  std::shared_ptr<policy::PolicyAuthorizer> policy_;
  std::mutex reload_mu_;
  crypto::JwtVerifier token_verifier_;  // Bearer tokens: this gateway's keys only
  std::string jwks_json_;
  core::MetricsRegistry registry_;
  Metrics metrics_;
  // Abuse limits (rate_limit.h): sign-ins started per client, wrong device codes. A refusal is
  // answered by send_limited (429, Retry-After).
  AbuseLimits limits_{cfg_.abuse_limits, clock_, registry_};
  http::awaitable<void> send_limited(Request& r, const AbuseLimits::Refusal& why);
  std::unique_ptr<audit::AuditLog> audit_;   // null: audit disabled
  std::unique_ptr<jobs::JobsService> jobs_;  // null: jobs off
  core::WallTime last_cert_audit_{};
  const http::Server* server_ = nullptr;
  std::vector<std::string> stripped_names_;  // cookies never passed upstream
  core::Logger log_{"gateway"};
};

}  // namespace cg::gateway
