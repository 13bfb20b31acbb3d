// The jobs service inside the gateway (docs/jobs.md): the API behind a route with upstream
// builtin:jobs (decided by the policy like any route, then checked again by the service, which
// knows whose job it is), and the nodes' endpoints under /.claimgate/jobs/.
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "gateway/internal/request.h"
#include "gateway/state_files.h"
#include "jobs/errors.h"
#include "jobs/http_api.h"
#include "jobs/local_executor.h"
#include "jobs/slurm_executor.h"
#include "session/sqlite_store.h"

namespace cg::gateway {

namespace bhttp = http::bhttp;
using json = nlohmann::json;
template <class T>
using awaitable = http::awaitable<T>;

// Counts a reply of the nodes' endpoints: renewals, and refusals by endpoint and code.
void count_node_reply(Metrics& metrics, const std::string& path, const jobs::Reply& reply);

Result<std::unique_ptr<jobs::JobsService>> open_jobs_service(
    const GatewayConfig& cfg, const crypto::Keyring& keyring, const core::Clock& clock,
    core::Random& random, jobs::JobsService::AuditSink background,
    std::shared_ptr<session::RedisBackend> redis) {
  const JobsConfig& jc = cfg.jobs;
  jobs::ServiceOptions o;
  o.state_dir = jc.state_dir;
  o.issuer = cfg.jwt_issuer;
  o.gateway_url = jc.gateway_url;
  o.ca_file = jc.ca_file;
  o.claimgate_binary = jc.claimgate_binary;
  if (o.claimgate_binary.empty()) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) o.claimgate_binary.assign(buf, static_cast<size_t>(n));
    // The node verifier alone starts faster; use it when it is installed beside us.
    std::string lean = std::filesystem::path(o.claimgate_binary).parent_path() / "claimgate-exec";
    if (::access(lean.c_str(), X_OK) == 0) o.claimgate_binary = lean;
  }
  o.token_ttl = jc.token_ttl;
  o.cancel_grace = jc.cancel_grace;
  o.check_interval = jc.check_interval;
  o.poll_interval = jc.poll_interval;
  o.when_unreachable = jc.when_unreachable;
  o.limits = jc.limits;
  o.protected_dirs = job_protected_dirs(cfg);
  // Who jobs run as: never the gateway's own user (refused with what to set), unless the
  // development switch says so, which is warned about at every start.
  std::vector<std::string> warnings;
  CG_TRY(auto accounts, job_accounts(cfg, warnings));
  for (const auto& w : warnings) core::Logger("jobs").warn(w);
  std::error_code ec;
  std::filesystem::create_directories(o.state_dir, ec);
  o.instance = jc.instance;
  if (o.instance.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    auto dir = std::filesystem::weakly_canonical(o.state_dir, ec);
    o.instance = std::string(host) + ":" + (ec ? o.state_dir : dir.string());
  }
  std::unique_ptr<jobs::JobStore> store;
  if (redis) {
    CG_TRY(store, jobs::open_redis_job_store(std::move(redis)));
  } else {
    CG_TRY(store, jobs::open_sqlite_job_store(o.state_dir + "/jobs.db"));
  }
  std::unique_ptr<jobs::Executor> executor;
  if (jc.executor == "slurm") {
    executor = std::make_unique<jobs::SlurmExecutor>(jobs::SlurmOptions{
        jc.slurm.bin_dir, jc.slurm.partition, jc.slurm.extra_args, std::move(accounts)});
  } else {
    jobs::LocalOptions lo;
    lo.pass_env = jc.pass_env;
    lo.accounts = std::move(accounts);
    lo.sandbox = jc.sandbox;
    lo.bwrap = jc.bwrap;
    lo.hide = job_hidden_paths(cfg);
    auto local = std::make_unique<jobs::LocalExecutor>(clock, std::move(lo));
    CG_CHECK(local->init());
    executor = std::move(local);
  }
  // Said at every start: what separates a job from the gateway and from other jobs.
  if (executor->isolation().find("WITHOUT") != std::string::npos ||
      executor->isolation().find("INSECURE") != std::string::npos) {
    core::Logger("jobs").warn("isolation: ", executor->isolation());
  } else {
    core::Logger("jobs").info("isolation: ", executor->isolation());
  }
  auto svc =
      std::make_unique<jobs::JobsService>(std::move(o), keyring, clock, random, std::move(store),
                                          std::move(executor), std::move(background));
  CG_CHECK(svc->start());
  return svc;
}

Status Gateway::open_jobs() {
  if (!cfg_.jobs.enabled) return {};
  CG_TRY(jobs_, open_jobs_service(
                    cfg_, keyring_, clock_, random_,
                    [this](audit::Event ev) { audit(std::move(ev), audit::Durability::kBatched); },
                    stores_.redis));
  log_.info("jobs: ", cfg_.jobs.executor, " executor, job directories in ", cfg_.jobs.state_dir,
            ", records in ", jobs_->store_description(), ", this service is ",
            core::log_quote(jobs_->options().instance), ", nodes reach ", cfg_.jobs.gateway_url);
  if (stores_.redis) {
    // A revocation at any gateway of the deployment stops the person's jobs here too.
    on_revocations(*stores_.redis, [this](const std::string& subject, const std::string& reason) {
      audit::AuditLog::Ticket last = 0;
      revoke_jobs_of(subject, reason, last);
    });
  }
  return {};
}

void Gateway::close_jobs() {
  if (stores_.redis) session::redis_on_event(*stores_.redis, nullptr);
  if (jobs_) jobs_->stop();
}

void on_revocations(session::RedisBackend& redis,
                    std::function<void(const std::string&, const std::string&)> handler) {
  session::redis_on_event(
      redis, [handler = std::move(handler)](std::string_view kind, std::string_view payload) {
        if (kind != kRevokeSubjectEvent) return;
        json j = json::parse(payload, nullptr, false);
        if (!j.is_object() || !j["subject"].is_string() || !j["reason"].is_string()) return;
        handler(j["subject"].get<std::string>(), j["reason"].get<std::string>());
      });
}

void Gateway::announce_revocation(const std::string& subject, const std::string& reason) {
  if (!stores_.redis) return;
  json j{{"subject", subject}, {"reason", reason}};
  if (auto st = session::redis_publish(*stores_.redis, kRevokeSubjectEvent, j.dump()); !st) {
    // Not announced to the other gateways: their jobs of this person keep running until the
    // revocation is repeated.
    log_.error("jobs.revocation_not_announced",
               {{"subject", subject}, {"message", st.error().message}});
  }
}

awaitable<void> Gateway::answer_jobs(Request& r, jobs::Reply reply) {
  audit::AuditLog::Ticket last = 0;
  for (auto& ev : reply.events) {
    ev.str("request_id", r.ex.request_id()).str("trace_id", r.ex.trace().trace_id);
    last = audit(std::move(ev), audit::Durability::kDurable);
  }
  if (!reply.events.empty() && !co_await durable(last)) {
    log_.error(r.ex.log_context(), "jobs.audit_failed", {{"events", reply.events.size()}});
  }
  if (reply.status >= 400) {
    log_.info(r.ex.log_context(), "jobs.refused",
              {{"status", reply.status}, {"body", core::clip(reply.body, 300)}});
  }
  co_await send_json(r, reply.status, reply.body + "\n");
}

awaitable<void> Gateway::jobs_api(Request& r, const session::StoredSession& signed_in) {
  if (!jobs_) {
    co_await send_error(r, 503, "Jobs are off",
                        make_error(Code::kNotFound, "the jobs service is not running here"));
    co_return;
  }
  if (!jobs::is_jobs_path(r.path)) {
    co_await answer_jobs(r, jobs::error_reply(404, make_error(jobs::Code::kNotFound,
                                                              "the jobs service answers "
                                                              "/api/projects/{project}/jobs...")));
    co_return;
  }
  std::string method(r.ex.method_string());
  std::string body;
  if (jobs::wants_body(method)) {
    // JSON only: a cross-site form cannot send this type, so a cookie cannot be replayed into
    // a submission or a cancel by another site.
    if (!is_json_media_type(r.ex.header(bhttp::field::content_type))) {
      co_await send_error(r, 415, "JSON expected",
                          make_error(Code::kBadRequest,
                                     "POST " + r.path + " takes Content-Type: application/json"));
      co_return;
    }
    auto b = co_await r.ex.read_body(cfg_.body_limit);
    if (!b) {
      co_await send_error(r, 413, "Request too large",
                          make_error(Code::kBadRequest, b.error().message));
      co_return;
    }
    body = std::move(*b);
  }
  jobs::Caller caller;
  std::shared_ptr<const session::Session> person = signed_in.session;
  caller.subject = person->subject;
  std::shared_ptr<const session::TokenGrant> agent;
  if (r.agent()) {
    agent = r.token;
    caller.actor = "agent:" + agent->agent;
  }
  auto pol = policy_;
  caller.permits = [pol, person, agent](std::string_view perm, std::string_view project) {
    if (project.empty()) return false;  // every jobs action names its project
    if (agent) {
      if (std::find(agent->scope.begin(), agent->scope.end(), perm) == agent->scope.end())
        return false;
      if (!agent->project.empty() && agent->project != project) return false;
    }
    return pol->holds(*person, perm, project);
  };
  auto routed = jobs::route_api(*jobs_, caller, method, r.path, r.query, body, r.ex.request_id(),
                                r.ex.trace().trace_id);
  if (method == "POST" && routed.reply.status == 201) metrics_.tokens_minted.inc({"job"});
  if (routed.log) {
    co_await jobs::stream_log(r.ex, *jobs_, std::move(*routed.log), routed.follow, routed.offset,
                              routed.limit);
    co_return;
  }
  co_await answer_jobs(r, std::move(routed.reply));
}

awaitable<void> Gateway::jobs_node(Request& r) {
  if (!jobs_) {
    co_await answer_jobs(r, jobs::error_reply(404, make_error(jobs::Code::kNotFound,
                                                              "the jobs service is not running "
                                                              "on this gateway")));
    co_return;
  }
  std::string body;
  if (r.ex.method() == bhttp::verb::post) {
    auto b = co_await r.ex.read_body(64 * 1024);
    if (!b) {
      auto refused = jobs::error_reply(
          413, make_error(jobs::Code::kTokenInvalid, "the body is larger than 64 KiB"));
      count_node_reply(metrics_, r.path, refused);
      co_await answer_jobs(r, std::move(refused));
      co_return;
    }
    body = std::move(*b);
  }
  auto reply = jobs::route_node(*jobs_, r.ex.method_string(), r.path, body, r.ex.client_address());
  count_node_reply(metrics_, r.path, reply);
  co_await answer_jobs(r, std::move(reply));
}

void count_node_reply(Metrics& metrics, const std::string& path, const jobs::Reply& reply) {
  std::string endpoint = "other";  // (a bounded set of label values, whatever the path)
  for (const char* e : {"check", "renew", "report"}) {
    if (path == std::string("/.claimgate/jobs/") + e) endpoint = e;
  }
  if (endpoint == "renew") {
    metrics.job_renewals.inc({reply.status == 200 ? "renewed" : "refused"});
    if (reply.status == 200) metrics.tokens_refreshed.inc({"job"});
  }
  if (reply.status >= 400) {
    metrics.node_refusals.inc({endpoint, reply.error.empty() ? "unknown" : reply.error});
  }
}

void Gateway::revoke_jobs_of(const std::string& subject, const std::string& reason,
                             audit::AuditLog::Ticket& last) {
  if (!jobs_) return;
  std::vector<audit::Event> events;
  size_t n = jobs_->revoke_submitter(subject, reason, events);
  for (auto& ev : events) last = audit(std::move(ev), audit::Durability::kDurable);
  if (n) log_.warn("jobs.tokens_revoked", {{"subject", subject}, {"jobs", n}});
}

}  // namespace cg::gateway
