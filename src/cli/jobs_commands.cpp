#include "cli/jobs_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "audit/config.h"
#include "audit/log.h"
#include "cli/jobs_client.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/service_notify.h"
#include "core/time.h"
#include "crypto/jwt.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/state_files.h"
#include "http/server.h"
#include "jobs/errors.h"
#include "jobs/http_api.h"

namespace cg::cli {
namespace {

core::Logger g_log{"jobs-serve"};

// The caller named by a gateway identity JWT: its subject, its roles ("role@project") turned
// into permissions by the policy's role templates, and an agent's scope. nullopt (and the
// JSON error in `refusal`) when the token is missing or does not verify.
std::optional<jobs::Caller> identify(const std::string& token, const std::string& header,
                                     const crypto::JwtVerifier& identity, const std::string& issuer,
                                     const std::string& audience, core::WallTime now,
                                     std::shared_ptr<const policy::Policy> policy,
                                     std::string& refusal) {
  crypto::JwtExpectations want{issuer, audience, std::chrono::seconds(30)};
  std::string why;
  Result<nlohmann::json> claims = nlohmann::json();
  if (token.empty()) {
    why = "no " + header + " header: this service answers only through the gateway";
  } else {
    claims = identity.verify(token, now, want);
    if (!claims) why = claims.error().message;
  }
  if (!why.empty()) {
    refusal = jobs::error_reply(401, make_error(jobs::Code::kIdentity,
                                                "the request carries no valid gateway "
                                                "identity: " +
                                                    why))
                  .body;
    return std::nullopt;
  }
  jobs::Caller caller;
  caller.subject = claims->value("sub", "");
  std::vector<std::string> roles;
  if (claims->contains("roles") && (*claims)["roles"].is_array()) {
    for (const auto& r : (*claims)["roles"]) {
      if (r.is_string()) roles.push_back(r.get<std::string>());
    }
  }
  std::vector<std::string> scope;
  if (claims->contains("act") && (*claims)["act"].is_object()) {
    caller.actor = (*claims)["act"].value("sub", "");
    std::string s = claims->value("scope", "");
    for (size_t i = 0; i < s.size();) {
      size_t sp = s.find(' ', i);
      if (sp == std::string::npos) sp = s.size();
      if (sp > i) scope.push_back(s.substr(i, sp - i));
      i = sp + 1;
    }
  }
  bool agent = !caller.actor.empty();
  caller.permits = [policy, roles, scope, agent](std::string_view perm, std::string_view project) {
    if (agent && std::find(scope.begin(), scope.end(), perm) == scope.end()) return false;
    for (const auto& rp : roles) {
      auto at = rp.rfind('@');
      if (at == std::string::npos) continue;
      std::string_view where = std::string_view(rp).substr(at + 1);
      if (where != "*" && where != project) continue;
      std::string_view name = std::string_view(rp).substr(0, at);
      for (const auto& role : policy->roles()) {
        if (role.name == name && std::binary_search(role.permissions.begin(),
                                                    role.permissions.end(), std::string(perm))) {
          return true;
        }
      }
    }
    return false;
  };
  return caller;
}

// The jobs service alone: every API request must carry the gateway's identity JWT (verified
// with the gateway's keys); the nodes' endpoints take job tokens.
int run_jobs_serve(const std::string& path, const std::string& listen, const std::string& audience,
                   const std::string& jwks, const std::string& issuer_flag) {
  core::Problems problems;
  auto& clock = core::SystemClock::instance();
  auto& random = core::SystemRandom::instance();
  auto cfg = gateway::load_gateway_config(path, clock.now(), problems);
  if (!cfg) {
    for (const auto& pr : problems.list()) std::cerr << path << ": " << pr.to_string() << "\n";
    std::cerr << "claimgate jobs serve: refusing to start with a bad config\n";
    return 1;
  }
  core::set_log_level(cfg->log_level);
  core::set_log_format(cfg->log_format);
  ::umask(077);  // what the service creates (job files, jobs.db, audit) is its own alone
  cfg->jobs.enabled = true;
  if (gateway::log_state_file_problems(*cfg, g_log)) {
    std::cerr << "claimgate jobs serve: refusing to start while its keys, state or audit log "
                 "are open to other users (the chmod commands above fix it)\n";
    return 1;
  }
  std::vector<std::string> notes;
  auto ring = gateway::open_keyring(*cfg, clock.now(), random, notes);
  if (!ring) {
    g_log.error("keys: ", ring.error().message);
    return 1;
  }
  crypto::JwtVerifier identity(*ring);
  if (!jwks.empty()) {
    auto text = core::read_file(jwks, 1 << 20);
    auto v = text ? crypto::JwtVerifier::from_jwks(*text)
                  : Result<crypto::JwtVerifier>(fail(text.error()));
    if (!v) {
      g_log.error("--jwks ", jwks, ": ", v.error().message);
      return 1;
    }
    identity = std::move(*v);
  }
  std::unique_ptr<audit::AuditLog> log;
  if (cfg->audit.enabled) {
    auto sinks = audit::open_sinks(cfg->audit);
    if (!sinks) {
      g_log.error("audit: ", sinks.error().message);
      return 1;
    }
    auto opened = audit::AuditLog::open(cfg->audit.log, *ring, clock, std::move(*sinks));
    if (!opened) {
      g_log.error("audit: ", opened.error().message);
      return 1;
    }
    log = std::move(*opened);
  }
  auto write = [&log](audit::Event ev, audit::Durability d) -> audit::AuditLog::Ticket {
    return log ? log->append(std::move(ev), d) : 0;
  };
  // With the Redis store, the job records are shared with the deployment's other jobs
  // services, and an administrator's revocation at any gateway stops the person's jobs here
  // too (docs/deployment.md#training-jobs).
  std::shared_ptr<session::RedisBackend> redis;
  if (cfg->store_kind == "redis") {
    auto stores = session::open_redis_stores(cfg->redis, clock);
    if (!stores) {
      g_log.error("store: ", stores.error().message);
      return 1;
    }
    redis = stores->backend;
  }
  auto opened = gateway::open_jobs_service(
      *cfg, *ring, clock, random,
      [&write](audit::Event ev) { write(std::move(ev), audit::Durability::kBatched); }, redis);
  if (!opened) {
    g_log.error("jobs: ", opened.error().message);
    return 1;
  }
  jobs::JobsService& svc = **opened;
  const auto& jc = cfg->jobs;
  if (redis) {
    gateway::on_revocations(*redis, [&](const std::string& subject, const std::string& reason) {
      std::vector<audit::Event> events;
      size_t n = svc.revoke_submitter(subject, reason, events);
      for (auto& ev : events) write(std::move(ev), audit::Durability::kDurable);
      if (n) g_log.warn("jobs.tokens_revoked", {{"subject", subject}, {"jobs", n}});
    });
  }
  auto policy = cfg->policy ? cfg->policy : policy::Policy::empty();
  std::string header = cfg->header_prefix + "Assertion";
  std::string issuer = issuer_flag.empty() ? cfg->jwt_issuer : issuer_flag;
  http::ServerOptions so = cfg->server;
  if (!listen.empty()) {
    auto colon = listen.rfind(':');
    so.host = listen.substr(0, colon);
    so.port = static_cast<uint16_t>(std::atoi(listen.c_str() + colon + 1));
  }
  auto send = [](http::Exchange& ex, unsigned status, std::string body) -> http::awaitable<void> {
    http::StringResponse res{static_cast<http::bhttp::status>(status), 11};
    res.set(http::bhttp::field::content_type, "application/json");
    res.body() = std::move(body) + "\n";
    co_await ex.respond(std::move(res));
  };
  auto answer = [&](http::Exchange& ex) -> http::awaitable<void> {
    std::string path(http::target_path(ex.target()));
    std::string query(http::target_query(ex.target()));
    std::string method(ex.method_string());
    std::string body;
    if (method == "POST") {
      auto b = co_await ex.read_body(1 << 20);
      if (!b) {
        co_await send(ex, 413,
                      jobs::error_reply(
                          413, make_error(jobs::Code::kBadSpec, "the body is larger than 1 MiB"))
                          .body);
        co_return;
      }
      body = std::move(*b);
    }
    jobs::Reply reply;
    if (path.starts_with("/.claimgate/jobs/")) {
      reply = jobs::route_node(svc, method, path, body, ex.client_address());
    } else if (path == "/healthz") {
      reply.body = "{\"ok\":true}";
    } else {
      // Only the gateway's signed identity lets a request in.
      std::string refusal;
      auto caller = identify(std::string(ex.header(header)), header, identity, issuer, audience,
                             clock.now(), policy, refusal);
      if (!caller) {
        co_await send(ex, 401, refusal);
        co_return;
      }
      auto routed = jobs::route_api(svc, *caller, method, path, query, body, ex.request_id(),
                                    ex.trace().trace_id);
      if (routed.log) {
        co_await jobs::stream_log(ex, svc, std::move(*routed.log), routed.follow, routed.offset,
                                  routed.limit);
        co_return;
      }
      reply = std::move(routed.reply);
    }
    for (auto& ev : reply.events) {
      ev.str("request_id", ex.request_id()).str("trace_id", ex.trace().trace_id);
      write(std::move(ev), audit::Durability::kDurable);
    }
    if (reply.status >= 400) {
      g_log.info(ex.log_context(), "jobs.refused",
                 {{"status", reply.status}, {"body", core::clip(reply.body, 300)}});
    }
    co_await send(ex, reply.status, reply.body);
  };
  // Every request: answered, then one access-log line naming its request id and its W3C trace
  // (the client's traceparent continued, or one started here; docs/logging.md).
  auto handler = [&](http::Exchange& ex) -> http::awaitable<void> {
    co_await answer(ex);
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.started())
            .count();
    g_log.info(ex.log_context(), "request",
               {{"client", ex.client_address()},
                {"method", ex.method_string()},
                {"path", http::target_path(ex.target())},
                {"route", "jobs"},
                {"status", ex.status()},
                {"ms", std::round(ms * 100.0) / 100.0},
                {"in", ex.bytes_in},
                {"out", ex.bytes_out}});
  };
  http::Server server(so, handler);
  if (auto st = server.start(); !st) {
    g_log.error(st.error().message);
    return 1;
  }
  g_log.info("jobs service listening on ", so.host, ":", server.port(), " (", jc.executor,
             " executor, job directories in ", jc.state_dir, ", records in ",
             svc.store_description(), ", this service is ", core::log_quote(svc.options().instance),
             ")");
  http::asio::signal_set signals(server.main_context(), SIGTERM, SIGINT);
  signals.async_wait([&](const http::error_code& e, int) {
    if (e) return;
    if (auto st = core::notify_service_manager("STOPPING=1"); !st) g_log.warn(st.error().message);
    server.stop();
  });
  std::signal(SIGPIPE, SIG_IGN);
  // Listening, signals handled: a service manager may now send traffic (systemd Type=notify).
  if (auto st = core::notify_service_manager("READY=1"); !st) g_log.warn(st.error().message);
  server.wait();
  if (redis) session::redis_on_event(*redis, nullptr);
  svc.stop();
  if (log) log->close();
  return 0;
}

}  // namespace

void add_jobs_commands(CLI::App& app, int& exit_code) {
  add_exec_options(
      *app.add_subcommand("exec", "Verify a job's token, then run its command (on every node)"),
      exit_code);

  static std::string config, listen, audience = "jobs", jwks, issuer;
  auto* jobs = app.add_subcommand(
      "jobs", "Training jobs: submit, list, status, logs, cancel, wait; serve (the service)");
  jobs->require_subcommand(1);
  add_jobs_client_commands(*jobs, exit_code);
  auto* serve = jobs->add_subcommand(
      "serve", "Run the jobs service alone, behind a gateway (requests need its identity JWT)");
  serve->add_option("--config,-c", config, "a gateway config (jobs:, keys, policy, audit)")
      ->required();
  serve->add_option("--listen", listen, "address:port (default: the config's listen)");
  serve->add_option("--audience", audience,
                    "the JWT audience to accept: the gateway's route name (default jobs)");
  serve->add_option("--jwks", jwks, "verify identity JWTs with this JWKS file, not the keyring");
  serve->add_option("--issuer", issuer,
                    "the identity JWT issuer to accept (default: the config's identity.issuer)");
  serve->callback(
      [&exit_code] { exit_code = run_jobs_serve(config, listen, audience, jwks, issuer); });
}

}  // namespace cg::cli
