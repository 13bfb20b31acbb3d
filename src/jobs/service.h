// The jobs service: submit, list, read, follow the logs of and cancel training jobs, per
// project, under the identity of the person (or agent) calling; and the three endpoints the
// nodes call with the job's token (check, renew, report). Transport-free: http_api.h maps
// HTTP onto it, inside `claimgate serve` (route upstream builtin:jobs) or alone
// (`claimgate jobs serve`).
//
// Authorisation (deny by default), in the job's project: jobs:submit to submit, jobs:read to
// list and read, logs:read for the logs, jobs:cancel for one's own jobs and jobs:cancel-any
// for others'. The gateway's route rules decide first; the service checks again, because only
// it knows whose job it is.
//
// With a shared store (Redis), several services answer for the same jobs: each job is watched
// (monitored, stopped, re-attached after a restart) by the service that started it, its owner;
// any service answers the API and the nodes, and a cancel at another service reaches the
// owner through the record (its monitor reads its jobs on every round).
//
// A job's token lives with the job: minted at submission, renewed by the nodes while the job
// runs (never past its deadline: created + max_runtime), revoked when the job is cancelled or
// ends, or when an admin revokes the submitter. The person's session and SAML assertion play
// no part after the submission: they can sign out, the job runs on.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/event.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/random.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "jobs/executor.h"
#include "jobs/job.h"
#include "jobs/store.h"

namespace cg::jobs {

struct ServiceOptions {
  std::string state_dir;         // job directories: <state_dir>/<job id>/ (0700)
  std::string issuer;            // the job tokens' "iss" (the gateway's identity.issuer)
  std::string gateway_url;       // where nodes reach the gateway (check, renew, report, JWKS)
  std::string ca_file;           // for the nodes: the CA of the gateway's certificate
  std::string claimgate_binary;  // on the nodes
  std::chrono::seconds token_ttl{900};
  std::chrono::seconds cancel_grace{10};
  std::chrono::seconds check_interval{30};  // how often nodes check for revocation
  std::chrono::milliseconds poll_interval{500};
  std::string when_unreachable = "closed";  // nodes: gateway unreachable at start
  SpecLimits limits;
  // This service's name in the records of the jobs it starts (Job::owner): stable across
  // restarts, different for each service sharing a store.
  std::string instance = "jobs";
  // Directories a job's working directory may not lie in (the keyring, the state and audit
  // directories); the state directory is always one.
  std::vector<std::string> protected_dirs;
};

// Who calls, and what they hold (the gateway's policy, or the roles in a gateway JWT).
struct Caller {
  std::string subject;
  std::string actor;  // "" (the person) or "agent:<name>"
  std::function<bool(std::string_view permission, std::string_view project)> permits;
};

// An answer: status and JSON body, and the audit events it produced (written durable by the
// caller before the answer leaves).
struct Reply {
  unsigned status = 200;
  std::string body;
  std::vector<audit::Event> events;
  std::string error;  // an error reply: the error's name (jobs/errors.h), for metrics
};

// An error answer: {"error": name, "code": n, "message": ...} with `status`.
Reply error_reply(unsigned status, const Error& e);

struct LogAccess {
  std::string path;
  std::string job_id;
};

class JobsService {
 public:
  // Background events (a job ended, was lost, ran past its deadline) go to `background`.
  using AuditSink = std::function<void(audit::Event)>;
  JobsService(ServiceOptions opts, const crypto::Keyring& keyring, const core::Clock& clock,
              core::Random& random, std::unique_ptr<JobStore> store,
              std::unique_ptr<Executor> executor, AuditSink background);
  ~JobsService();
  JobsService(const JobsService&) = delete;
  JobsService& operator=(const JobsService&) = delete;

  // Re-attaches the jobs a previous run left running (or marks them lost), then starts the
  // monitor thread (which calls poll_once every poll_interval; tests call it themselves).
  Status start(bool monitor = true);
  void stop();
  // One round of the monitor: ended jobs recorded, jobs past their deadline stopped.
  void poll_once() { tick(); }

  // request_id and trace_id name the request in the service's log lines (its audit events
  // get them from the route that writes them, once).
  Reply submit(const Caller& c, std::string_view project, std::string_view body,
               std::string_view request_id, std::string_view trace_id = {});
  Reply list(const Caller& c, std::string_view project, const std::vector<core::QueryParam>& q);
  Reply get(const Caller& c, std::string_view project, std::string_view id);
  Reply cancel(const Caller& c, std::string_view project, std::string_view id,
               std::string_view request_id, std::string_view trace_id = {});
  // The log file of a job the caller may read (logs:read), or an error reply.
  Result<LogAccess> logs(const Caller& c, std::string_view project, std::string_view id,
                         Reply* refusal);
  // Whether the job may still write to its log (queued or running).
  bool running(std::string_view id);

  // The nodes' endpoints (JSON bodies; see docs/jobs.md).
  Reply check(std::string_view body, std::string_view client);
  Reply renew(std::string_view body, std::string_view client);
  Reply report(std::string_view body, std::string_view client);

  // Revokes the tokens of every job `subject` submitted (admin revoke) and stops those still
  // running; returns how many jobs it touched.
  size_t revoke_submitter(std::string_view subject, std::string_view reason,
                          std::vector<audit::Event>& events);

  // For metrics: the jobs this service watches, by state, and how many jobs it recorded
  // ending, by state (index: State).
  struct Counts {
    std::array<size_t, 6> watched{};
    std::array<uint64_t, 6> ended{};
  };
  Counts counts();

  const ServiceOptions& options() const { return opts_; }
  std::string store_description() const { return store_->describe(); }
  std::string job_dir(std::string_view id) const;

 private:
  Result<std::optional<Job>> load(std::string_view project, std::string_view id);
  // Re-attaches this service's jobs left queued or running, or records how they ended.
  Status recover();
  // Records the end of a job: `state`, or (nullopt) cancelled if a cancel was asked for, else
  // succeeded or failed by the exit code. Revokes its token.
  Status finish(const std::string& id, std::optional<State> state, std::optional<int> exit_code,
                std::string message);
  // Asks the executor to stop a job this service watches (once).
  void signal(const Job& j);
  void monitor();
  void tick();
  audit::Event job_event(std::string_view type, const Job& j) const;
  audit::Event revoked_event(const Job& j) const;
  Result<std::string> mint(const Job& j);

  ServiceOptions opts_;
  const crypto::Keyring& keyring_;
  crypto::JwtVerifier verifier_;
  const core::Clock& clock_;
  core::Random& random_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Executor> executor_;
  AuditSink background_;
  // The jobs this service started and watches (queued or running), by id: the last copy read
  // from the store, which holds the truth (JobStore::update for every change).
  std::mutex mu_;
  std::map<std::string, Job> active_;
  std::set<std::string> signalled_;               // asked to stop (executor cancel) already
  std::array<std::atomic<uint64_t>, 6> ended_{};  // jobs whose end this service recorded
  std::atomic<bool> recovered_{false};            // recover() has run through
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread monitor_;
  // Refusal reports whose token does not verify, per client: (window start, count).
  static constexpr int kUnverifiedReports = 60;
  bool admit_unverified_report(std::string_view client);
  std::mutex reports_mu_;
  std::map<std::string, std::pair<core::MonoTime, int>> reports_;
  core::Logger log_{"jobs"};
};

}  // namespace cg::jobs
