#include "jobs/service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "crypto/keys.h"
#include "jobs/errors.h"
#include "jobs/internal/files.h"
#include "jobs/job_token.h"

namespace cg::jobs {
namespace {

using nlohmann::json;

constexpr size_t kReportField = 512;

bool project_name_ok(std::string_view p) {
  if (p.empty() || p.size() > 64 || p == "*") return false;
  for (char c : p) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  }
  return true;
}

std::string field(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? core::clip(it->get<std::string>(), kReportField)
                                          : std::string();
}

// Why a job's token no longer counts: when and for what it was revoked.
Error revoked(const Job& j) {
  return make_error(Code::kTokenRevoked, "job " + j.id + "'s token was revoked at " +
                                             core::format_datetime(j.token_revoked) + " (" +
                                             j.revoked_reason + ")");
}

Reply cannot_read(const Caller& c, std::string_view project) {
  return error_reply(
      403, make_error(Code::kForbidden, c.subject + " may not read the jobs of project '" +
                                            std::string(project) + "' (needs jobs:read there)"));
}

}  // namespace

Reply error_reply(unsigned status, const Error& e) {
  return Reply{
      status, json{{"error", e.name}, {"code", e.code}, {"message", e.message}}.dump(), {}};
}

JobsService::JobsService(ServiceOptions opts, const crypto::Keyring& keyring,
                         const core::Clock& clock, core::Random& random,
                         std::unique_ptr<JobStore> store, std::unique_ptr<Executor> executor,
                         AuditSink background)
    : opts_(std::move(opts)),
      keyring_(keyring),
      verifier_(keyring),
      clock_(clock),
      random_(random),
      store_(std::move(store)),
      executor_(std::move(executor)),
      background_(std::move(background)) {}

JobsService::~JobsService() { stop(); }

std::string JobsService::job_dir(std::string_view id) const {
  return opts_.state_dir + "/" + std::string(id);
}

Status JobsService::start(bool monitor) {
  std::error_code ec;
  std::filesystem::create_directories(opts_.state_dir, ec);
  if (ec) {
    return fail(Code::kExecutor,
                "cannot create the jobs directory " + opts_.state_dir + ": " + ec.message());
  }
  ::chmod(opts_.state_dir.c_str(), 0700);
  CG_TRY(auto unfinished, store_->unfinished());
  std::lock_guard lock(mu_);
  for (auto& j : unfinished) {
    Probe p = executor_->probe(j, job_dir(j.id));
    auto ev = job_event("job.recovered", j);
    if (p.what == Probe::What::kRunning) {
      log_.info("job ", j.id, " (", j.project, ") is still running: re-attached");
      ev.str("outcome", "re-attached");
      active_[j.id] = j;
    } else if (p.what == Probe::What::kEnded) {
      ev.str("outcome", "ended while the service was down").num("exit_code", p.exit_code);
      finish(j,
             j.cancel_requested != core::WallTime{} ? State::kCancelled
             : p.exit_code == 0                     ? State::kSucceeded
                                                    : State::kFailed,
             p.exit_code, p.message);
    } else {
      log_.warn("job ", j.id, " (", j.project, ") was lost: ", p.message);
      ev.str("outcome", "lost").str("reason", p.message);
      finish(j, State::kLost, std::nullopt, "lost: " + p.message);
    }
    if (background_) background_(std::move(ev));
  }
  if (monitor) monitor_ = std::thread([this] { this->monitor(); });
  return {};
}

void JobsService::stop() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void JobsService::monitor() {
  std::unique_lock lock(wake_mu_);
  while (!stopping_) {
    wake_.wait_for(lock, opts_.poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

void JobsService::tick() {
  // Probing may take a while (squeue, sacct): it runs on copies, outside the lock, so that
  // the API and the nodes' endpoints are not held up; the results are applied under it.
  std::vector<Job> jobs, to_stop;
  {
    std::lock_guard lock(mu_);
    auto now = clock_.now();
    for (auto& [id, j] : active_) {
      if (now >= j.deadline && j.cancel_requested == core::WallTime{}) {
        log_.info("job ", id, " reached its maximum runtime: stopping it");
        j.cancel_requested = now;
        j.cancelled_by = "(maximum runtime)";
        revoke_token(j, "maximum runtime reached", nullptr);
        (void)store_->put(j);
        to_stop.push_back(j);
      }
      jobs.push_back(j);
    }
  }
  for (const auto& j : to_stop) (void)executor_->cancel(j, opts_.cancel_grace);
  std::vector<std::pair<std::string, Probe>> ended;
  for (const auto& j : jobs) {
    Probe p = executor_->probe(j, job_dir(j.id));
    if (p.what != Probe::What::kRunning) ended.emplace_back(j.id, std::move(p));
  }
  if (ended.empty()) return;
  std::lock_guard lock(mu_);
  for (auto& [id, p] : ended) {
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    Job& j = it->second;
    if (p.what == Probe::What::kGone) {
      finish(j, State::kLost, std::nullopt, "lost: " + p.message);
    } else if (j.cancel_requested != core::WallTime{}) {
      finish(j, State::kCancelled, p.exit_code, "cancelled by " + j.cancelled_by);
    } else {
      finish(j, p.exit_code == 0 ? State::kSucceeded : State::kFailed, p.exit_code, p.message);
    }
    active_.erase(it);
  }
}

void JobsService::finish(Job& j, State s, std::optional<int> exit_code, std::string message) {
  j.state = s;
  j.exit_code = exit_code;
  j.message = std::move(message);
  j.ended = clock_.now();
  std::vector<audit::Event> events;
  revoke_token(j, "job ended (" + std::string(state_name(s)) + ")", &events);
  if (auto st = store_->put(j); !st)
    log_.error("cannot record the end of job ", j.id, ": ", st.error().message);
  auto ev = job_event("job.finished", j);
  ev.str("state", state_name(s)).str("message", j.message);
  if (exit_code) ev.num("exit_code", *exit_code);
  events.push_back(std::move(ev));
  log_.info("job ", j.id, " ", state_name(s), ": ", j.message);
  if (background_) {
    for (auto& e : events) background_(std::move(e));
  }
}

void JobsService::revoke_token(Job& j, std::string reason, std::vector<audit::Event>* events) {
  if (j.token_is_revoked()) return;
  j.token_revoked = clock_.now();
  j.revoked_reason = std::move(reason);
  auto ev = job_event("job.token_revoked", j);
  ev.str("reason", j.revoked_reason);
  if (events) {
    events->push_back(std::move(ev));
  } else if (background_) {
    background_(std::move(ev));
  }
}

audit::Event JobsService::job_event(std::string_view type, const Job& j) const {
  audit::Event ev(type, clock_.now());
  ev.str("subject", j.submitter).str("job_id", j.id).str("project", j.project);
  if (!j.actor.empty()) ev.str("actor", j.actor);
  return ev;
}

Result<std::string> JobsService::mint(Job& j) {
  std::string jti = j.id + "." + std::to_string(j.renewals);
  return mint_job_token(keyring_.current_signing(), opts_.issuer, j, clock_.now(), opts_.token_ttl,
                        jti);
}

Reply JobsService::submit(const Caller& c, std::string_view project, std::string_view body,
                          std::string_view request_id) {
  if (!project_name_ok(project)) {
    return error_reply(
        400, make_error(Code::kBadSpec, "'" + core::clip(project, 64) + "' is not a project name"));
  }
  if (!c.permits("jobs:submit", project)) {
    return error_reply(403, make_error(Code::kForbidden, c.subject +
                                                             " may not submit jobs in "
                                                             "project '" +
                                                             std::string(project) +
                                                             "' (needs jobs:submit there)"));
  }
  auto spec = parse_spec(body, opts_.limits);
  if (!spec) return error_reply(400, spec.error());
  Job j;
  auto now = clock_.now();
  j.id = "j" + core::hex_encode(random_.bytes(10));
  j.project = std::string(project);
  j.submitter = c.subject;
  j.actor = c.actor;
  j.spec = std::move(*spec);
  j.created = now;
  j.deadline = now + j.spec.max_runtime;
  j.executor = executor_->name();
  std::string dir = job_dir(j.id);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return error_reply(500, make_error(Code::kExecutor, "cannot create the job's directory " + dir +
                                                            ": " + std::strerror(errno)));
  }
  if (j.spec.workdir.empty()) j.spec.workdir = dir;
  std::string secret = core::base64url_encode(random_.bytes(32));
  j.renewal_hash = core::hex_encode(crypto::sha256(secret));
  auto token = mint(j);
  if (!token) return error_reply(500, token.error());
  Launch l;
  l.job = &j;
  l.dir = dir;
  l.token_file = dir + "/token";
  l.secret_file = dir + "/renewal-secret";
  l.jwks_file = dir + "/jwks.json";
  l.log_file = dir + "/output.log";
  l.gateway_url = opts_.gateway_url;
  l.ca_file = opts_.ca_file;
  l.claimgate = opts_.claimgate_binary;
  l.when_unreachable = opts_.when_unreachable;
  l.check_interval = opts_.check_interval;
  for (auto [path, data] : {std::pair{l.token_file, *token}, std::pair{l.secret_file, secret},
                            std::pair{l.jwks_file, crypto::jwks_of(keyring_).dump()}}) {
    if (auto st = write_private_file(path, data); !st) return error_reply(500, st.error());
  }
  Reply out;
  auto ev = job_event("job.submitted", j);
  ev.str("request_id", request_id)
      .str("name", j.spec.name)
      .str("program", j.spec.command.front())
      .num("args", static_cast<int64_t>(j.spec.command.size() - 1))
      .str("command_digest", j.digest())
      .str("workdir", j.spec.workdir)
      .num("nodes", j.spec.nodes)
      .num("procs_per_node", j.spec.procs_per_node)
      .num("gpus", j.spec.gpus)
      .num("max_runtime_s", j.spec.max_runtime.count())
      .str("pool", j.spec.pool)
      .str("executor", j.executor);
  out.events.push_back(std::move(ev));
  std::lock_guard lock(mu_);
  if (auto st = store_->put(j); !st) return error_reply(500, st.error());
  auto ref = executor_->start(l);
  if (!ref) {
    finish(j, State::kFailed, std::nullopt, "could not start: " + ref.error().message);
    Reply r = error_reply(500, ref.error());
    r.events = std::move(out.events);
    return r;
  }
  j.ref = *ref;
  if (executor_->runs_at_once()) {
    j.state = State::kRunning;
    j.started = clock_.now();
  }
  if (auto st = store_->put(j); !st) return error_reply(500, st.error());
  active_[j.id] = j;
  auto started = job_event("job.started", j);
  started.str("executor", j.executor).str("ref", j.ref);
  out.events.push_back(std::move(started));
  out.status = 201;
  out.body = job_json(j);
  log_.info("job ", j.id, " submitted by ", c.subject, " in ", j.project, ": ", j.executor, " ",
            j.ref);
  return out;
}

Result<std::optional<Job>> JobsService::load(std::string_view project, std::string_view id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = active_.find(std::string(id)); it != active_.end()) {
      if (it->second.project != project) return std::optional<Job>();
      return std::optional<Job>(it->second);
    }
  }
  CG_TRY(auto j, store_->get(id));
  if (j && j->project != project) return std::optional<Job>();
  return j;
}

Reply JobsService::list(const Caller& c, std::string_view project,
                        const std::vector<core::QueryParam>& q) {
  if (!c.permits("jobs:read", project)) return cannot_read(c, project);
  JobFilter f;
  f.project = std::string(project);
  for (const auto& p : q) {
    if (p.name == "submitter") {
      f.submitter = p.value;
    } else if (p.name == "state") {
      f.state = parse_state(p.value);
      if (!f.state) {
        return error_reply(
            400, make_error(Code::kBadSpec, "state: '" + core::clip(p.value, 40) +
                                                "' is not one of queued, running, succeeded, "
                                                "failed, cancelled, lost"));
      }
    } else if (p.name == "limit") {
      char* end = nullptr;
      long n = std::strtol(p.value.c_str(), &end, 10);
      if (p.value.empty() || *end || n < 1 || n > 1000) {
        return error_reply(400, make_error(Code::kBadSpec, "limit: must be 1..1000"));
      }
      f.limit = static_cast<size_t>(n);
    } else {
      return error_reply(
          400, make_error(Code::kBadSpec, "'" + core::clip(p.name, 40) +
                                              "' is not a filter (submitter, state, limit)"));
    }
  }
  auto jobs = store_->list(f);
  if (!jobs) return error_reply(500, jobs.error());
  std::string body = "{\"jobs\":[";
  for (size_t i = 0; i < jobs->size(); ++i) {
    // The live copy of a running job is the newest.
    const Job* j = &(*jobs)[i];
    Job live;
    {
      std::lock_guard lock(mu_);
      if (auto it = active_.find(j->id); it != active_.end()) {
        live = it->second;
        j = &live;
      }
    }
    if (i) body += ',';
    body += job_json(*j);
  }
  body += "]}";
  return Reply{200, std::move(body), {}};
}

Reply JobsService::get(const Caller& c, std::string_view project, std::string_view id) {
  if (!c.permits("jobs:read", project)) return cannot_read(c, project);
  auto j = load(project, id);
  if (!j) return error_reply(500, j.error());
  if (!*j) {
    return error_reply(404, make_error(Code::kNotFound, "project '" + std::string(project) +
                                                            "' has no job " + core::clip(id, 64)));
  }
  return Reply{200, job_json(**j), {}};
}

Reply JobsService::cancel(const Caller& c, std::string_view project, std::string_view id,
                          std::string_view request_id) {
  auto loaded = load(project, id);
  if (!loaded) return error_reply(500, loaded.error());
  bool any = c.permits("jobs:cancel-any", project);
  if (!*loaded) {
    if (!any && !c.permits("jobs:cancel", project)) {
      return error_reply(
          403, make_error(Code::kForbidden, c.subject + " may not cancel jobs in project '" +
                                                std::string(project) + "'"));
    }
    return error_reply(404, make_error(Code::kNotFound, "project '" + std::string(project) +
                                                            "' has no job " + core::clip(id, 64)));
  }
  const Job& found = **loaded;
  bool own = found.submitter == c.subject && c.permits("jobs:cancel", project);
  if (!any && !own) {
    std::string why = found.submitter == c.subject
                          ? "needs jobs:cancel in project '" + std::string(project) + "'"
                          : "it is " + found.submitter +
                                "'s job, and cancelling another "
                                "person's job needs jobs:cancel-any in project '" +
                                std::string(project) + "'";
    return error_reply(403, make_error(Code::kForbidden,
                                       c.subject + " may not cancel job " + found.id + ": " + why));
  }
  std::lock_guard lock(mu_);
  auto it = active_.find(found.id);
  if (it == active_.end()) {
    return error_reply(409, make_error(Code::kState, "job " + found.id + " has already ended (" +
                                                         state_name(found.state) + ")"));
  }
  Job& j = it->second;
  Reply out;
  if (j.cancel_requested == core::WallTime{}) {
    j.cancel_requested = clock_.now();
    j.cancelled_by = c.subject;
    if (!c.actor.empty()) j.cancelled_by += " (" + c.actor + ")";
    revoke_token(j, "cancelled by " + j.cancelled_by, &out.events);
    auto ev = job_event("job.cancelled", j);
    ev.str("request_id", request_id).str("by", c.subject);
    if (!c.actor.empty()) ev.str("by_actor", c.actor);
    out.events.push_back(std::move(ev));
    if (auto st = executor_->cancel(j, opts_.cancel_grace); !st) {
      log_.warn("cancel of job ", j.id, ": ", st.error().message);
    }
    if (auto st = store_->put(j); !st) return error_reply(500, st.error());
  }
  wake_.notify_all();
  out.status = 202;
  out.body = job_json(j);
  return out;
}

Result<LogAccess> JobsService::logs(const Caller& c, std::string_view project, std::string_view id,
                                    Reply* refusal) {
  if (!c.permits("logs:read", project)) {
    *refusal = error_reply(
        403, make_error(Code::kForbidden, c.subject + " may not read the logs of project '" +
                                              std::string(project) + "' (needs logs:read there)"));
    return fail(Code::kForbidden, "");
  }
  auto j = load(project, id);
  if (!j || !*j) {
    *refusal = !j ? error_reply(500, j.error())
                  : error_reply(
                        404, make_error(Code::kNotFound, "project '" + std::string(project) +
                                                             "' has no job " + core::clip(id, 64)));
    return fail(Code::kNotFound, "");
  }
  return LogAccess{job_dir((*j)->id) + "/output.log", (*j)->id};
}

bool JobsService::running(std::string_view id) {
  std::lock_guard lock(mu_);
  return active_.contains(std::string(id));
}

// ---------------------------------------------------------------------------------------------
// The nodes' endpoints.

Reply JobsService::check(std::string_view body, std::string_view client) {
  auto in = json::parse(body, nullptr, false);
  if (in.is_discarded() || !in.is_object() || !in.contains("token") || !in["token"].is_string()) {
    return error_reply(400, make_error(Code::kTokenInvalid, "expected {\"token\": \"...\"}"));
  }
  JobExpectations ex;
  auto claims = verify_job_token(verifier_, in["token"].get<std::string>(), clock_.now(), ex);
  if (!claims) return error_reply(401, claims.error());
  std::lock_guard lock(mu_);
  auto it = active_.find(claims->job_id);
  std::optional<Job> stored;
  if (it == active_.end()) {
    auto j = store_->get(claims->job_id);
    if (!j) return error_reply(500, j.error());
    stored = std::move(*j);
    if (!stored) {
      return error_reply(
          401, make_error(Code::kTokenRevoked, "job " + claims->job_id + " is not known here"));
    }
  }
  Job& j = it != active_.end() ? it->second : *stored;
  Reply out;
  if (j.token_is_revoked()) {
    out = error_reply(401, revoked(j));
  } else {
    out.body = json{{"active", true},
                    {"job", j.id},
                    {"state", state_name(j.state)},
                    {"deadline", core::format_datetime(j.deadline)}}
                   .dump();
  }
  if (field(in, "event") == "start") {
    auto ev = job_event(out.status == 200 ? "job.verified" : "job.refused", j);
    ev.str("node", field(in, "node")).str("client", client).str("token_id", claims->token_id);
    if (out.status != 200) ev.str("code", "jobs.token_revoked").str("reason", j.revoked_reason);
    out.events.push_back(std::move(ev));
    if (out.status == 200 && j.state == State::kQueued) {
      j.state = State::kRunning;
      j.started = clock_.now();
      (void)store_->put(j);
    }
  }
  return out;
}

Reply JobsService::renew(std::string_view body, std::string_view client) {
  auto in = json::parse(body, nullptr, false);
  if (in.is_discarded() || !in.is_object() || !in.contains("token") || !in["token"].is_string() ||
      !in.contains("secret") || !in["secret"].is_string()) {
    return error_reply(
        400, make_error(Code::kRenewal, "expected {\"token\": \"...\", \"secret\": \"...\"}"));
  }
  JobExpectations ex;
  ex.allow_expired = true;  // the secret and the job's state decide, not the old token's exp
  auto claims = verify_job_token(verifier_, in["token"].get<std::string>(), clock_.now(), ex);
  if (!claims) return error_reply(401, claims.error());
  std::lock_guard lock(mu_);
  auto it = active_.find(claims->job_id);
  if (it == active_.end()) {
    auto j = store_->get(claims->job_id);
    if (j && *j && (*j)->token_is_revoked()) return error_reply(401, revoked(**j));
    return error_reply(
        401, make_error(Code::kTokenRevoked, "job " + claims->job_id + " is not running"));
  }
  Job& j = it->second;
  std::string hash = core::hex_encode(crypto::sha256(in["secret"].get<std::string>()));
  if (!crypto::constant_time_equals(hash, j.renewal_hash)) {
    log_.warn("renewal of job ", j.id, " refused: wrong renewal secret (client ", client, ")");
    return error_reply(403,
                       make_error(Code::kRenewal, "the renewal secret is not job " + j.id + "'s"));
  }
  if (j.token_is_revoked()) return error_reply(401, revoked(j));
  auto now = clock_.now();
  if (now >= j.deadline) {
    return error_reply(
        401, make_error(Code::kRenewal, "job " + j.id + " reached its maximum runtime at " +
                                            core::format_datetime(j.deadline)));
  }
  ++j.renewals;
  auto token = mint(j);
  if (!token) return error_reply(500, token.error());
  if (auto st = store_->put(j); !st) return error_reply(500, st.error());
  auto exp = std::min(now + opts_.token_ttl, j.deadline);
  Reply out;
  out.body =
      json{{"token", *token},
           {"expires", core::format_datetime(exp)},
           {"expires_in", std::chrono::duration_cast<std::chrono::seconds>(exp - now).count()}}
          .dump();
  auto ev = job_event("job.token_renewed", j);
  ev.str("node", field(in, "node")).num("renewals", static_cast<int64_t>(j.renewals));
  ev.time("expires", exp);
  background_ ? background_(std::move(ev)) : void();
  return out;
}

Reply JobsService::report(std::string_view body, std::string_view client) {
  auto in = json::parse(body, nullptr, false);
  if (in.is_discarded() || !in.is_object() || !in.contains("token") || !in["token"].is_string()) {
    return error_reply(400, make_error(Code::kTokenInvalid,
                                       "expected {\"token\": \"...\", "
                                       "\"event\": ...}"));
  }
  std::string token = in["token"].get<std::string>();
  std::string event = field(in, "event");
  JobExpectations ex;
  ex.allow_expired = true;
  auto claims = verify_job_token(verifier_, token, clock_.now(), ex);
  Reply out;
  out.body = "{\"recorded\":true}";
  if (event == "refused") {
    // A node refused to run: recorded whether or not the token verifies (a forged token is
    // what a reviewer wants to see), with the claims marked as unverified when they are.
    // Reports whose token does not verify come from anyone: at most kUnverifiedReports a
    // minute per client reach the audit log, so that nobody can fill it.
    if (!claims && !admit_unverified_report(client)) {
      return error_reply(429, make_error(Code::kTokenInvalid,
                                         "too many refusal reports with unverifiable tokens "
                                         "from " +
                                             std::string(client) + "; try again in a minute"));
    }
    JobClaims c = claims ? *claims : peek_job_claims(token);
    audit::Event ev("job.refused", clock_.now());
    ev.str("subject", c.submitter)
        .str("job_id", c.job_id)
        .str("project", c.project)
        .flag("token_verified", claims.has_value())
        .str("node", field(in, "node"))
        .str("client", client)
        .str("code", field(in, "code"))
        .str("reason", field(in, "reason"));
    out.events.push_back(std::move(ev));
    log_.warn("node ", field(in, "node"), " refused job ", c.job_id, ": ", field(in, "reason"));
    return out;
  }
  if (!claims) return error_reply(401, claims.error());
  if (event == "exited") {
    int code = in.contains("exit_code") && in["exit_code"].is_number_integer()
                   ? in["exit_code"].get<int>()
                   : -1;
    std::lock_guard lock(mu_);
    auto it = active_.find(claims->job_id);
    if (it != active_.end()) {
      Job& j = it->second;
      if (j.nodes.size() < 4096) j.nodes.push_back({field(in, "node"), code, clock_.now()});
      (void)store_->put(j);
      auto ev = job_event("job.node_exited", j);
      ev.str("node", field(in, "node")).num("exit_code", code).str("client", client);
      out.events.push_back(std::move(ev));
    }
    return out;
  }
  return error_reply(400, make_error(Code::kTokenInvalid, "event: '" + core::clip(event, 40) +
                                                              "' is not one of refused, exited"));
}

bool JobsService::admit_unverified_report(std::string_view client) {
  std::lock_guard lock(reports_mu_);
  auto now = clock_.monotonic();
  if (reports_.size() > 10'000) reports_.clear();
  auto& [start, count] = reports_[std::string(client)];
  if (now - start >= std::chrono::minutes(1)) {
    start = now;
    count = 0;
  }
  if (count >= kUnverifiedReports) {
    if (count == kUnverifiedReports) {
      log_.warn("client ", client, " sent more than ", kUnverifiedReports,
                " refusal reports with unverifiable tokens in a minute; ignoring more");
    }
    ++count;
    return false;
  }
  ++count;
  return true;
}

size_t JobsService::revoke_submitter(std::string_view subject, std::string_view reason,
                                     std::vector<audit::Event>& events) {
  auto jobs = store_->with_live_token(subject);
  if (!jobs) {
    log_.error("cannot list the jobs of ", subject, ": ", jobs.error().message);
    return 0;
  }
  size_t n = 0;
  std::lock_guard lock(mu_);
  for (auto& stored : *jobs) {
    auto it = active_.find(stored.id);
    Job& j = it != active_.end() ? it->second : stored;
    revoke_token(j, "submitter revoked: " + std::string(reason), &events);
    if (it != active_.end() && j.cancel_requested == core::WallTime{}) {
      j.cancel_requested = clock_.now();
      j.cancelled_by = "(submitter revoked)";
      (void)executor_->cancel(j, opts_.cancel_grace);
    }
    (void)store_->put(j);
    ++n;
  }
  return n;
}

}  // namespace cg::jobs
