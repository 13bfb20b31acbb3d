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

// Revokes the job's token; false when it was revoked already. Only edits the job, so that the
// closures of JobStore::update may call it.
bool revoke(Job& j, std::string reason, core::WallTime now) {
  if (j.token_is_revoked()) return false;
  j.token_revoked = now;
  j.revoked_reason = std::move(reason);
  return true;
}

Reply not_found(std::string_view project, std::string_view id) {
  return error_reply(404, make_error(Code::kNotFound, "project '" + std::string(project) +
                                                          "' has no job " + core::clip(id, 64)));
}

Reply cannot_read(const Caller& c, std::string_view project) {
  return error_reply(
      403, make_error(Code::kForbidden, c.subject + " may not read the jobs of project '" +
                                            std::string(project) + "' (needs jobs:read there)"));
}

}  // namespace

Reply error_reply(unsigned status, const Error& e) {
  return Reply{
      status, json{{"error", e.name}, {"code", e.code}, {"message", e.message}}.dump(), {}, e.name};
}

JobsService::Counts JobsService::counts() {
  Counts c;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, j] : active_) ++c.watched[static_cast<size_t>(j.state)];
  }
  for (size_t i = 0; i < c.ended.size(); ++i) c.ended[i] = ended_[i].load();
  return c;
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
  // Every job's directory is in it: its accounts may pass through (each to its own, whose
  // random name it is given), but not list it or read the jobs database beside them.
  ::chmod(opts_.state_dir.c_str(), 0711);
  if (auto st = recover(); !st) {
    // A shared store that is down at start (Redis): the service starts, and the monitor
    // tries again on every round until it has re-attached its jobs.
    log_.warn("cannot re-attach the jobs left running yet (", st.error().message,
              "); trying again every ", opts_.poll_interval.count(), " ms");
  }
  if (monitor) monitor_ = std::thread([this] { this->monitor(); });
  return {};
}

Status JobsService::recover() {
  CG_TRY(auto unfinished, store_->unfinished());
  for (auto& j : unfinished) {
    // With a shared store, the jobs other services started are theirs to watch. Records from
    // before owners were recorded belong to whoever reads them (one service then).
    if (!j.owner.empty() && j.owner != opts_.instance) continue;
    {
      std::lock_guard lock(mu_);
      if (active_.contains(j.id)) continue;
    }
    Probe p = executor_->probe(j, job_dir(j.id));
    auto ev = job_event("job.recovered", j);
    if (p.what == Probe::What::kRunning) {
      log_.info("job.reattached", {{"job", j.id}, {"project", j.project}});
      ev.str("outcome", "re-attached");
      std::lock_guard lock(mu_);
      active_[j.id] = j;
    } else if (p.what == Probe::What::kEnded) {
      ev.str("outcome", "ended while the service was down").num("exit_code", p.exit_code);
      CG_CHECK(finish(j.id, std::nullopt, p.exit_code, p.message));
    } else {
      log_.warn("job.lost", {{"job", j.id}, {"project", j.project}, {"reason", p.message}});
      ev.str("outcome", "lost").str("reason", p.message);
      CG_CHECK(finish(j.id, State::kLost, std::nullopt, "lost: " + p.message));
    }
    if (background_) background_(std::move(ev));
  }
  recovered_ = true;
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
  if (!recovered_) (void)recover();
  // Each job this service watches is read again (with a shared store another service may have
  // cancelled it); probing may take a while (squeue, sacct), so nothing here holds mu_ for
  // longer than a map lookup: the API and the nodes' endpoints are not held up.
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, j] : active_) ids.push_back(id);
  }
  std::vector<Job> jobs;
  for (const auto& id : ids) {
    auto now = clock_.now();
    bool over = false, newly = false;
    auto fresh = store_->update(id, [&](Job& j) {
      over = newly = false;
      if (finished(j.state) || now < j.deadline || j.cancel_requested != core::WallTime{}) {
        return false;
      }
      j.cancel_requested = now;
      j.cancelled_by = "(maximum runtime)";
      newly = revoke(j, "maximum runtime reached", now);
      over = true;
      return true;
    });
    Job j;
    {
      std::lock_guard lock(mu_);
      auto it = active_.find(id);
      if (it == active_.end()) continue;
      // The store may be out of reach for a moment: the last copy read stands in.
      if (fresh && *fresh) it->second = **fresh;
      j = it->second;
    }
    if (over) {
      log_.info("job.max_runtime", {{"job", id}});
      if (newly && background_) background_(revoked_event(j));
    }
    if (j.cancel_requested != core::WallTime{}) signal(j);
    jobs.push_back(std::move(j));
  }
  for (const auto& j : jobs) {
    Probe p = executor_->probe(j, job_dir(j.id));
    if (p.what == Probe::What::kRunning) continue;
    Status recorded = p.what == Probe::What::kGone
                          ? finish(j.id, State::kLost, std::nullopt, "lost: " + p.message)
                          : finish(j.id, std::nullopt, p.exit_code, p.message);
    if (!recorded) {
      // Watched on: the next round records the end.
      log_.error("job.record_failed",
                 {{"job", j.id}, {"what", "end"}, {"message", recorded.error().message}});
      continue;
    }
    std::lock_guard lock(mu_);
    active_.erase(j.id);
    signalled_.erase(j.id);
  }
}

void JobsService::signal(const Job& j) {
  {
    std::lock_guard lock(mu_);
    if (!active_.contains(j.id) || signalled_.contains(j.id)) return;
    signalled_.insert(j.id);
  }
  if (auto st = executor_->cancel(j, opts_.cancel_grace); !st) {
    log_.warn("job.cancel_failed", {{"job", j.id}, {"message", st.error().message}});
  }
}

Status JobsService::finish(const std::string& id, std::optional<State> state,
                           std::optional<int> exit_code, std::string message) {
  auto now = clock_.now();
  bool newly = false, wrote = false;
  CG_TRY(auto done, store_->update(id, [&](Job& j) {
    newly = wrote = false;
    if (finished(j.state)) return false;  // recorded already
    if (state) {
      j.state = *state;
      j.message = message;
    } else if (j.cancel_requested != core::WallTime{}) {
      j.state = State::kCancelled;
      j.message = "cancelled by " + j.cancelled_by;
    } else {
      j.state = exit_code == 0 ? State::kSucceeded : State::kFailed;
      j.message = message;
    }
    j.exit_code = exit_code;
    j.ended = now;
    newly = revoke(j, "job ended (" + std::string(state_name(j.state)) + ")", now);
    wrote = true;
    return true;
  }));
  if (!done || !wrote) return {};
  const Job& j = *done;
  ended_[static_cast<size_t>(j.state)].fetch_add(1, std::memory_order_relaxed);
  log_.info("job.ended", {{"job", j.id}, {"state", state_name(j.state)}, {"message", j.message}});
  if (!background_) return {};
  if (newly) background_(revoked_event(j));
  auto ev = job_event("job.finished", j);
  ev.str("state", state_name(j.state)).str("message", j.message);
  if (j.exit_code) ev.num("exit_code", *j.exit_code);
  background_(std::move(ev));
  return {};
}

audit::Event JobsService::revoked_event(const Job& j) const {
  auto ev = job_event("job.token_revoked", j);
  ev.str("reason", j.revoked_reason);
  return ev;
}

audit::Event JobsService::job_event(std::string_view type, const Job& j) const {
  audit::Event ev(type, clock_.now());
  ev.str("subject", j.submitter).str("job_id", j.id).str("project", j.project);
  if (!j.actor.empty()) ev.str("actor", j.actor);
  return ev;
}

Result<std::string> JobsService::mint(const Job& j) {
  std::string jti = j.id + "." + std::to_string(j.renewals);
  return mint_job_token(keyring_.current_signing(), opts_.issuer, j, clock_.now(), opts_.token_ttl,
                        jti);
}

Reply JobsService::submit(const Caller& c, std::string_view project, std::string_view body,
                          std::string_view request_id, std::string_view trace_id) {
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
  j.owner = opts_.instance;
  std::string dir = job_dir(j.id);
  // The working directory is bound as the directory it is now: every link resolved, its
  // identity recorded (the start refuses another), and never in the gateway's own directories.
  if (!j.spec.workdir.empty()) {
    auto resolved = resolve_workdir(j.spec.workdir);
    if (!resolved) return error_reply(400, resolved.error());
    std::vector<std::string> guarded = opts_.protected_dirs;
    guarded.push_back(opts_.state_dir);
    for (const auto& g : guarded) {
      auto real = resolve_workdir(g);
      std::string outer_path = real ? real->path : g;
      std::string_view inner = resolved->path, outer = outer_path;
      bool within = inner == outer || (inner.starts_with(outer) &&
                                       (outer.ends_with('/') || inner[outer.size()] == '/'));
      if (!g.empty() && within) {
        return error_reply(
            400, make_error(Code::kWorkdir, "workdir: " + j.spec.workdir +
                                                " lies in a directory of the gateway's own (" + g +
                                                "); name a directory of the job's"));
      }
    }
    j.spec.workdir = resolved->path;
    j.spec.workdir_id = resolved->identity;
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return error_reply(500, make_error(Code::kExecutor, "cannot create the job's directory " + dir +
                                                            ": " + std::strerror(errno)));
  }
  if (j.spec.workdir.empty()) {
    auto own = resolve_workdir(dir);
    if (!own) return error_reply(500, own.error());
    j.spec.workdir = own->path;
    j.spec.workdir_id = own->identity;
  }
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
  l.env_file = dir + "/env.json";
  l.state_dir = opts_.state_dir;
  l.gateway_url = opts_.gateway_url;
  l.ca_file = opts_.ca_file;
  l.claimgate = opts_.claimgate_binary;
  l.when_unreachable = opts_.when_unreachable;
  l.check_interval = opts_.check_interval;
  for (auto [path, data] : {std::pair{l.token_file, *token}, std::pair{l.secret_file, secret},
                            std::pair{l.jwks_file, crypto::jwks_of(keyring_).dump()},
                            std::pair{l.env_file, json(j.spec.env).dump()}}) {
    if (auto st = write_private_file(path, data); !st) return error_reply(500, st.error());
  }
  Reply out;
  // request_id and trace_id: added to every event of a request by the route that answers it.
  auto ev = job_event("job.submitted", j);
  ev.str("name", j.spec.name)
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
  if (auto st = store_->insert(j); !st) return error_reply(500, st.error());
  auto ref = executor_->start(l);
  if (!ref) {
    if (auto st =
            finish(j.id, State::kFailed, std::nullopt, "could not start: " + ref.error().message);
        !st) {
      log_.error("job.record_failed",
                 {{"job", j.id}, {"what", "failed start"}, {"message", st.error().message}});
    }
    Reply r = error_reply(500, ref.error());
    r.events = std::move(out.events);
    return r;
  }
  bool at_once = executor_->runs_at_once();
  auto started_at = clock_.now();
  auto stored = store_->update(j.id, [&](Job& s) {
    s.ref = *ref;
    if (at_once && s.state == State::kQueued) {
      s.state = State::kRunning;
      s.started = started_at;
    }
    return true;
  });
  if (!stored || !*stored) {
    // Started, but not recorded as started: stopped again rather than left unwatched.
    j.ref = *ref;
    (void)executor_->cancel(j, opts_.cancel_grace);
    Reply r = error_reply(
        500, stored ? make_error(Code::kStore, "job " + j.id + " vanished") : stored.error());
    r.events = std::move(out.events);
    return r;
  }
  j = std::move(**stored);
  {
    std::lock_guard lock(mu_);
    active_[j.id] = j;
  }
  auto started = job_event("job.started", j);
  started.str("executor", j.executor).str("ref", j.ref);
  out.events.push_back(std::move(started));
  out.status = 201;
  out.body = job_json(j);
  log_.info(core::LogContext{request_id, trace_id}, "job.submitted",
            {{"job", j.id},
             {"subject", c.subject},
             {"project", j.project},
             {"executor", j.executor},
             {"ref", j.ref}});
  return out;
}

Result<std::optional<Job>> JobsService::load(std::string_view project, std::string_view id) {
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
    if (i) body += ',';
    body += job_json((*jobs)[i]);
  }
  body += "]}";
  return Reply{200, std::move(body), {}, {}};
}

Reply JobsService::get(const Caller& c, std::string_view project, std::string_view id) {
  if (!c.permits("jobs:read", project)) return cannot_read(c, project);
  auto j = load(project, id);
  if (!j) return error_reply(500, j.error());
  if (!*j) {
    return not_found(project, id);
  }
  return Reply{200, job_json(**j), {}, {}};
}

Reply JobsService::cancel(const Caller& c, std::string_view project, std::string_view id,
                          std::string_view request_id, std::string_view trace_id) {
  auto loaded = load(project, id);
  if (!loaded) return error_reply(500, loaded.error());
  bool any = c.permits("jobs:cancel-any", project);
  if (!*loaded) {
    if (!any && !c.permits("jobs:cancel", project)) {
      return error_reply(
          403, make_error(Code::kForbidden, c.subject + " may not cancel jobs in project '" +
                                                std::string(project) + "'"));
    }
    return not_found(project, id);
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
  auto now = clock_.now();
  std::string by = c.subject + (c.actor.empty() ? "" : " (" + c.actor + ")");
  bool ended = false, cancelled = false, newly = false;
  auto updated = store_->update(found.id, [&](Job& j) {
    ended = cancelled = newly = false;
    if (finished(j.state)) {
      ended = true;
      return false;
    }
    if (j.cancel_requested != core::WallTime{}) return false;  // asked already: 202 again
    j.cancel_requested = now;
    j.cancelled_by = by;
    newly = revoke(j, "cancelled by " + by, now);
    cancelled = true;
    return true;
  });
  if (!updated) return error_reply(500, updated.error());
  if (!*updated) return not_found(project, id);
  const Job& j = **updated;
  if (ended) {
    return error_reply(409, make_error(Code::kState, "job " + j.id + " has already ended (" +
                                                         state_name(j.state) + ")"));
  }
  Reply out;
  if (cancelled) {
    if (newly) out.events.push_back(revoked_event(j));
    auto ev = job_event("job.cancelled", j);
    ev.str("by", c.subject);
    if (!c.actor.empty()) ev.str("by_actor", c.actor);
    if (j.owner != opts_.instance) ev.str("owner", j.owner);
    out.events.push_back(std::move(ev));
    if (j.owner == opts_.instance || j.owner.empty()) {
      signal(j);
    } else {
      // Its processes are the owner's to stop (its monitor reads the request within a poll
      // interval); its nodes stop at their next check, the token being revoked.
      // Watched by another jobs service, which stops it.
      log_.info(core::LogContext{request_id, trace_id}, "job.cancel_forwarded",
                {{"job", j.id}, {"owner", j.owner}});
    }
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
    *refusal = !j ? error_reply(500, j.error()) : not_found(project, id);
    return fail(Code::kNotFound, "");
  }
  std::string path = job_dir((*j)->id) + "/output.log";
  if (!(*j)->owner.empty() && (*j)->owner != opts_.instance && ::access(path.c_str(), F_OK) != 0) {
    *refusal = error_reply(
        409,
        make_error(Code::kState, "job " + (*j)->id + "'s log is kept by the jobs service " +
                                     (*j)->owner + ", which runs it; this one (" + opts_.instance +
                                     ") has no copy (give the services one shared "
                                     "jobs.state_dir to read logs at any of them)"));
    return fail(Code::kState, "");
  }
  return LogAccess{std::move(path), (*j)->id};
}

bool JobsService::running(std::string_view id) {
  {
    std::lock_guard lock(mu_);
    if (active_.contains(std::string(id))) return true;
  }
  // Another service's job (a shared store and state_dir).
  auto j = store_->get(id);
  return j && *j && !finished((*j)->state);
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
  auto loaded = store_->get(claims->job_id);
  if (!loaded) return error_reply(500, loaded.error());
  if (!*loaded) {
    return error_reply(
        401, make_error(Code::kTokenRevoked, "job " + claims->job_id + " is not known here"));
  }
  const Job& j = **loaded;
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
      auto now = clock_.now();
      auto st = store_->update(j.id, [&](Job& s) {
        if (s.state != State::kQueued) return false;
        s.state = State::kRunning;
        s.started = now;
        return true;
      });
      if (!st) {
        log_.warn("job.record_failed",
                  {{"job", j.id}, {"what", "running"}, {"message", st.error().message}});
      }
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
  auto loaded = store_->get(claims->job_id);
  if (!loaded) return error_reply(500, loaded.error());
  if (!*loaded) {
    return error_reply(
        401, make_error(Code::kTokenRevoked, "job " + claims->job_id + " is not known here"));
  }
  std::string hash = core::hex_encode(crypto::sha256(in["secret"].get<std::string>()));
  if (!crypto::constant_time_equals(hash, (*loaded)->renewal_hash)) {
    log_.warn("job.renewal_refused",
              {{"job", claims->job_id}, {"reason", "wrong renewal secret"}, {"client", client}});
    return error_reply(
        403, make_error(Code::kRenewal, "the renewal secret is not job " + claims->job_id + "'s"));
  }
  // Counted in the record (so that every service mints the next number): refused once the
  // token is revoked, the job has ended or its deadline has passed.
  auto now = clock_.now();
  std::optional<Reply> refused;
  auto updated = store_->update(claims->job_id, [&](Job& j) {
    refused.reset();
    if (j.token_is_revoked()) {
      refused = error_reply(401, revoked(j));
    } else if (finished(j.state)) {
      refused =
          error_reply(401, make_error(Code::kTokenRevoked, "job " + j.id + " is not running"));
    } else if (now >= j.deadline) {
      refused = error_reply(
          401, make_error(Code::kRenewal, "job " + j.id + " reached its maximum runtime at " +
                                              core::format_datetime(j.deadline)));
    } else {
      ++j.renewals;
      return true;
    }
    return false;
  });
  if (!updated) return error_reply(500, updated.error());
  if (refused) return std::move(*refused);
  if (!*updated) {
    return error_reply(
        401, make_error(Code::kTokenRevoked, "job " + claims->job_id + " is not known here"));
  }
  const Job& j = **updated;
  auto token = mint(j);
  if (!token) return error_reply(500, token.error());
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
    log_.warn("job.node_refused",
              {{"job", c.job_id}, {"node", field(in, "node")}, {"reason", field(in, "reason")}});
    return out;
  }
  if (!claims) return error_reply(401, claims.error());
  if (event == "exited") {
    int code = in.contains("exit_code") && in["exit_code"].is_number_integer()
                   ? in["exit_code"].get<int>()
                   : -1;
    std::string node = field(in, "node");
    auto now = clock_.now();
    bool added = false;
    auto updated = store_->update(claims->job_id, [&](Job& j) {
      added = !finished(j.state) && j.nodes.size() < 4096;
      if (added) j.nodes.push_back({node, code, now});
      return added;
    });
    if (!updated) return error_reply(500, updated.error());
    if (added) {
      auto ev = job_event("job.node_exited", **updated);
      ev.str("node", node).num("exit_code", code).str("client", client);
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
      // More refusal reports with unverifiable tokens in a minute than allowed: ignored.
      log_.warn("job.reports_ignored", {{"client", client}, {"per_minute", kUnverifiedReports}});
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
    log_.error("job.list_failed", {{"subject", subject}, {"message", jobs.error().message}});
    return 0;
  }
  size_t n = 0;
  auto now = clock_.now();
  std::string why = "submitter revoked: " + std::string(reason);
  for (const auto& listed : *jobs) {
    bool newly = false, stop = false;
    auto updated = store_->update(listed.id, [&](Job& j) {
      newly = revoke(j, why, now);
      stop = !finished(j.state) && j.cancel_requested == core::WallTime{};
      if (stop) {
        j.cancel_requested = now;
        j.cancelled_by = "(submitter revoked)";
      }
      return newly || stop;
    });
    if (!updated || !*updated) {
      log_.error(
          "job.revoke_failed",
          {{"job", listed.id}, {"message", updated ? "it vanished" : updated.error().message}});
      continue;
    }
    if (newly) {
      events.push_back(revoked_event(**updated));
      ++n;
    }
    // Another service's jobs are stopped by their owner, which reads the request.
    if (stop) signal(**updated);
  }
  wake_.notify_all();
  return n;
}

}  // namespace cg::jobs
