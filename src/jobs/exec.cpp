#include "jobs/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "http/client.h"
#include "jobs/errors.h"
#include "jobs/internal/files.h"
#include "jobs/job.h"
#include "jobs/job_token.h"

extern char** environ;

namespace cg::jobs {
namespace {

using nlohmann::json;
using std::chrono::seconds;

void say(const std::string& s) { std::cerr << "claimgate exec: " << s << std::endl; }

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

bool is_url(std::string_view s) { return s.starts_with("http://") || s.starts_with("https://"); }

std::string hostname() {
  char b[256] = {};
  if (::gethostname(b, sizeof b - 1) != 0) return "unknown";
  return b;
}

// The working directory, every symbolic link resolved: the token binds the directory the
// jobs service resolved at submission, never a name ($PWD) that could lead elsewhere.
std::string working_directory() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) ? buf : "";
}

// The job's variables from --env-file: a JSON object of strings, with the spec's rules again
// (no loader variable, nothing of claimgate's own).
Result<std::vector<std::string>> read_env_file(const std::string& path) {
  auto text = core::read_file(path, 4 << 20);
  if (!text) {
    return fail(Code::kBadSpec,
                "cannot read the job's environment file " + path + ": " + text.error().message);
  }
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Code::kBadSpec, "the job's environment file " + path + " is not a JSON object");
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string() || k.empty() || k.find('=') != std::string::npos ||
        k.starts_with("CLAIMGATE_") || is_loader_variable(k)) {
      return fail(Code::kBadSpec, "the job's environment file " + path + " sets " +
                                      core::clip(k, 40) +
                                      ", which a job may not set (docs/jobs.md)");
    }
    out.push_back(k + "=" + v.get<std::string>());
  }
  return out;
}

class Node {
 public:
  Node(const ExecOptions& o, const core::Clock& clock) : o_(o), clock_(clock) {
    node_ = o.node_name;
    if (node_.empty()) {
      // Under srun: the node and the task, so that each of a job's nodes is told apart.
      const char* sn = std::getenv("SLURMD_NODENAME");
      const char* id = std::getenv("SLURM_PROCID");
      node_ = sn && *sn ? std::string(sn) + (id ? "/" + std::string(id) : "") : hostname();
    }
  }
  int run();

 private:
  // Loads the JWKS (file or URL, with the cached copy when the URL cannot be reached).
  Result<crypto::JwtVerifier> load_jwks(bool refetch);
  Result<JobClaims> verify();
  std::string gateway() const { return o_.gateway.empty() ? issuer_ : o_.gateway; }
  // POSTs JSON to the gateway; nullopt when it cannot be reached (or answers 5xx).
  std::optional<http::FetchResponse> post(std::string_view path, const json& body,
                                          std::chrono::milliseconds timeout);
  int refuse(const Error& e);
  void report(const json& body);
  bool renew();
  // Checks revocation: 1 active, 0 revoked (stop), -1 unknown (unreachable / expired).
  int check_online();
  void stop_command(const std::string& why);

  const ExecOptions& o_;
  const core::Clock& clock_;
  std::string node_;
  std::string token_;
  std::string issuer_;
  JobClaims claims_;
  pid_t child_ = -1;
  std::optional<core::MonoTime> kill_at_;
  std::string stop_reason_;
  std::string last_error_;
};

std::optional<http::FetchResponse> Node::post(std::string_view path, const json& body,
                                              std::chrono::milliseconds timeout) {
  std::string base = gateway();
  if (base.empty()) return std::nullopt;
  while (base.ends_with('/')) base.pop_back();
  http::FetchRequest rq;
  rq.method = "POST";
  rq.url = base + std::string(path);
  rq.headers = {{"Content-Type", "application/json"}};
  rq.body = body.dump();
  rq.timeout = timeout;
  rq.ca_file = o_.ca_file;
  rq.max_body = 64 * 1024;
  auto res = http::fetch(rq);
  if (!res) {
    last_error_ = res.error().message;
    return std::nullopt;
  }
  if (res->status >= 500) {
    last_error_ = "the gateway answered " + std::to_string(res->status);
    return std::nullopt;
  }
  return *res;
}

Result<crypto::JwtVerifier> Node::load_jwks(bool refetch) {
  std::string source = o_.jwks;
  if (refetch && !is_url(source)) {
    if (o_.gateway.empty()) return fail(Code::kJwks, "no --gateway to fetch the JWKS again from");
    source = o_.gateway;
    while (source.ends_with('/')) source.pop_back();
    source += "/.well-known/jwks.json";
  }
  if (!is_url(source)) {
    auto text = core::read_file(source, 1 << 20);
    if (!text)
      return fail(Code::kJwks, "cannot read the JWKS file " + source + ": " + text.error().message);
    auto v = crypto::JwtVerifier::from_jwks(*text);
    if (!v)
      return fail(Code::kJwks, "the JWKS file " + source + " is not a JWKS: " + v.error().message);
    return v;
  }
  std::string dir = o_.cache_dir;
  if (dir.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    dir = xdg && *xdg ? std::string(xdg) + "/claimgate"
          : home      ? std::string(home) + "/.cache/claimgate"
                      : "";
  }
  std::string cache =
      dir.empty()
          ? ""
          : dir + "/jwks-" + core::hex_encode(crypto::sha256(source)).substr(0, 16) + ".json";
  http::FetchRequest rq;
  rq.url = source;
  rq.timeout = std::chrono::milliseconds(5000);
  rq.ca_file = o_.ca_file;
  rq.max_body = 1 << 20;
  auto res = http::fetch(rq);
  if (res && res->status == 200) {
    auto v = crypto::JwtVerifier::from_jwks(res->body);
    if (v) {
      if (!cache.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        (void)write_private_file(cache, res->body);
      }
      return v;
    }
  }
  std::string why = res ? "it answered " + std::to_string(res->status) : res.error().message;
  if (!refetch && !cache.empty()) {
    if (auto text = core::read_file(cache, 1 << 20)) {
      if (auto v = crypto::JwtVerifier::from_jwks(*text)) {
        say("cannot fetch the JWKS from " + source + " (" + why + "); using the cached copy");
        return v;
      }
    }
  }
  return fail(Code::kJwks, "cannot fetch the JWKS from " + source + " (" + why +
                               ") and no cached copy is usable");
}

Result<JobClaims> Node::verify() {
  JobExpectations ex;
  ex.pool = o_.node_pool;
  ex.job_id = o_.job_id;
  ex.project = o_.project;
  ex.skew = o_.skew;
  ex.digest = command_digest(o_.command, working_directory());
  CG_TRY(auto verifier, load_jwks(false));
  auto c = verify_job_token(verifier, token_, clock_.now(), ex);
  if (!c && c.error().code == static_cast<int>(Code::kTokenUnknownKey) &&
      (is_url(o_.jwks) || !o_.gateway.empty())) {
    // The gateway may have rotated its keys since the JWKS was cached: fetch it once more.
    auto fresh = load_jwks(true);
    if (fresh) c = verify_job_token(*fresh, token_, clock_.now(), ex);
  }
  return c;
}

void Node::report(const json& body) {
  if (o_.offline) return;
  (void)post("/.claimgate/jobs/report", body, std::chrono::milliseconds(3000));
}

int Node::refuse(const Error& e) {
  say("refused: " + e.message + " (" + e.name + "); nothing was run");
  json r = {{"token", token_},
            {"event", "refused"},
            {"node", node_},
            {"code", e.name},
            {"reason", e.message}};
  report(r);
  return kExitRefused;
}

int Node::check_online() {
  auto res = post("/.claimgate/jobs/check", json{{"token", token_}, {"node", node_}},
                  std::chrono::milliseconds(5000));
  if (!res) return -1;
  if (res->status == 200) return 1;
  auto j = json::parse(res->body, nullptr, false);
  std::string code = j.is_object() ? j.value("error", "") : "";
  if (code == "jobs.token_revoked") {
    stop_reason_ = j.value("message", "the job's token was revoked");
    return 0;
  }
  last_error_ = j.is_object() ? j.value("message", "") : res->body;
  return -1;
}

bool Node::renew() {
  if (o_.secret_file.empty()) return true;
  auto secret = core::read_file(o_.secret_file, 4096);
  if (!secret) {
    say("cannot read the renewal secret " + o_.secret_file + ": " + secret.error().message);
    return true;
  }
  auto res = post("/.claimgate/jobs/renew",
                  json{{"token", token_}, {"secret", trim(*secret)}, {"node", node_}},
                  std::chrono::milliseconds(10000));
  if (!res) {
    say("cannot renew the job token (" + last_error_ + "); the command goes on, retrying");
    return true;
  }
  auto j = json::parse(res->body, nullptr, false);
  if (res->status == 200 && j.is_object() && j.contains("token") && j["token"].is_string()) {
    token_ = j["token"].get<std::string>();
    claims_.expires = peek_job_claims(token_).expires;
    if (!write_private_file(o_.token_file, token_ + "\n")) {
      say("renewed the token but cannot rewrite " + o_.token_file);
    }
    return true;
  }
  std::string code = j.is_object() ? j.value("error", "") : "";
  std::string msg = j.is_object() ? j.value("message", "") : core::clip(res->body, 200);
  if (code == "jobs.token_revoked" || code == "jobs.renewal") {
    stop_reason_ = msg;
    return false;
  }
  say("the gateway refused to renew the job token: " + msg + " (" + code + ")");
  return true;
}

void Node::stop_command(const std::string& why) {
  if (kill_at_) return;
  say("stopping job " + claims_.job_id + ": " + why);
  ::kill(-child_, SIGTERM);
  kill_at_ = clock_.monotonic() + o_.grace;
}

int Node::run() {
  auto text = core::read_file(o_.token_file, 64 * 1024);
  if (!text) {
    return refuse(make_error(Code::kTokenInvalid, "cannot read the job token file " +
                                                      o_.token_file + ": " + text.error().message));
  }
  token_ = trim(*text);
  auto c = verify();
  if (!c) return refuse(c.error());
  claims_ = *c;
  issuer_ = claims_.issuer;
  if (!o_.offline) {
    auto res =
        post("/.claimgate/jobs/check", json{{"token", token_}, {"node", node_}, {"event", "start"}},
             std::chrono::milliseconds(5000));
    if (!res) {
      if (o_.when_unreachable != "open") {
        return refuse(
            make_error(Code::kUnreachable, "cannot reach the gateway at " + gateway() +
                                               " to check that the job's token is not revoked (" +
                                               last_error_ + "); --when-unreachable is closed"));
      }
      say("cannot reach the gateway at " + gateway() + " (" + last_error_ +
          "); running anyway (--when-unreachable open)");
    } else if (res->status != 200) {
      auto j = json::parse(res->body, nullptr, false);
      Error e = make_error(Code::kTokenRevoked, "the gateway refused the job token");
      if (j.is_object()) {
        e.name = j.value("error", e.name);
        e.code = j.value("code", e.code);
        e.message = j.value("message", e.message);
      }
      // The gateway recorded the refusal itself (job.refused) for a revoked token.
      say("refused: " + e.message + " (" + e.name + "); nothing was run");
      if (e.name != "jobs.token_revoked")
        report(json{{"token", token_},
                    {"event", "refused"},
                    {"node", node_},
                    {"code", e.name},
                    {"reason", e.message}});
      return kExitRefused;
    }
  }

  // The command's environment: ours (loader variables cleared at exec's start), the job's
  // own variables, and the job's identity.
  std::vector<std::string> job_env;
  if (!o_.env_file.empty()) {
    auto read = read_env_file(o_.env_file);
    if (!read) return refuse(read.error());
    job_env = std::move(*read);
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    bool replaced = false;
    for (const auto& x : job_env) {
      replaced = replaced || v.substr(0, v.find('=') + 1) == x.substr(0, x.find('=') + 1);
    }
    if (replaced) continue;
    if (v.starts_with("CLAIMGATE_JOB_") || v.starts_with("CLAIMGATE_PROJECT=") ||
        v.starts_with("CLAIMGATE_SUBMITTER=") || v.starts_with("CLAIMGATE_TOKEN_FILE=") ||
        v.starts_with("CLAIMGATE_NODE_POOL=") || v.starts_with("CLAIMGATE_GATEWAY=") ||
        v.starts_with("CLAIMGATE_CA_FILE="))
      continue;
    env.emplace_back(v);
  }
  std::string token_path = o_.token_file;
  if (!token_path.starts_with("/")) {
    char buf[PATH_MAX];
    if (::realpath(o_.token_file.c_str(), buf)) token_path = buf;
  }
  env.insert(env.end(), job_env.begin(), job_env.end());
  env.push_back("CLAIMGATE_JOB_ID=" + claims_.job_id);
  env.push_back("CLAIMGATE_PROJECT=" + claims_.project);
  env.push_back("CLAIMGATE_SUBMITTER=" + claims_.submitter);
  env.push_back("CLAIMGATE_TOKEN_FILE=" + token_path);
  env.push_back("CLAIMGATE_NODE_POOL=" + claims_.pool);
  // Where the job's processes check their token themselves (POST /.claimgate/jobs/check).
  if (!gateway().empty()) env.push_back("CLAIMGATE_GATEWAY=" + gateway());
  if (!o_.ca_file.empty()) env.push_back("CLAIMGATE_CA_FILE=" + o_.ca_file);
  std::vector<std::string> argv = o_.command;
  std::vector<char*> cargv, cenv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);

  sigset_t set, old;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  pid_t parent = ::getpid();
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    return refuse(make_error(Code::kExecutor, std::string("pipe: ") + std::strerror(errno)));
  }
  child_ = ::fork();
  if (child_ < 0) {
    return refuse(make_error(Code::kExecutor, std::string("fork: ") + std::strerror(errno)));
  }
  if (child_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // exec killed: its command goes with it
    if (::getppid() != parent) ::_exit(kExitRefused);
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    int e = errno;
    (void)!::write(errpipe[1], &e, sizeof e);
    ::_exit(kExitNotFound);
  }
  ::setpgid(child_, child_);
  ::close(errpipe[1]);
  int exec_errno = 0;
  if (::read(errpipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    say("cannot run " + o_.command[0] + ": " + std::strerror(exec_errno));
  } else {
    say("job " + claims_.job_id + " verified (project " + claims_.project + ", submitter " +
        claims_.submitter + ", pool " + claims_.pool + "); running " + o_.command[0]);
  }
  ::close(errpipe[0]);

  // Renew when two thirds of the token's life have passed; check revocation on the interval.
  auto renew_due = [&] {
    // Without a renewal secret nothing is renewed: never due.
    if (o_.secret_file.empty()) return clock_.monotonic() + std::chrono::hours(24 * 365);
    auto left = claims_.expires - clock_.now();
    auto life = claims_.expires - claims_.not_before;
    return clock_.monotonic() +
           std::chrono::duration_cast<std::chrono::milliseconds>(left - life / 3);
  };
  core::MonoTime next_renew = renew_due();
  core::MonoTime next_check = clock_.monotonic() + o_.check_interval;
  int status = 0;
  while (true) {
    auto now = clock_.monotonic();
    if (kill_at_ && now >= *kill_at_) {
      ::kill(-child_, SIGKILL);
      kill_at_ = now + std::chrono::hours(24);
    }
    if (!o_.offline && !kill_at_) {
      if (now >= next_renew && !o_.secret_file.empty()) {
        if (!renew()) {
          stop_command(stop_reason_);
        }
        next_renew = renew_due();
        if (next_renew < clock_.monotonic() + seconds(1))
          next_renew = clock_.monotonic() + seconds(5);
      }
      if (!kill_at_ && clock_.monotonic() >= next_check) {
        int r = check_online();
        if (r == 0) stop_command(stop_reason_);
        if (r < 0 && !o_.secret_file.empty() && clock_.now() >= claims_.expires) {
          next_renew = clock_.monotonic();  // expired while the gateway was away: renew now
        }
        next_check = clock_.monotonic() + o_.check_interval;
      }
    }
    int w = 0;
    pid_t r = ::waitpid(child_, &w, WNOHANG);
    if (r == child_) {
      status = WIFEXITED(w) ? WEXITSTATUS(w) : 128 + WTERMSIG(w);
      break;
    }
    auto wake = std::min(next_check, next_renew);
    if (o_.offline) wake = clock_.monotonic() + seconds(60);
    if (kill_at_) wake = std::min(wake, *kill_at_);
    auto wait = std::max<std::chrono::milliseconds>(
        std::chrono::milliseconds(10),
        std::chrono::duration_cast<std::chrono::milliseconds>(wake - clock_.monotonic()));
    wait = std::min(wait, std::chrono::milliseconds(1000));
    timespec ts{static_cast<time_t>(wait.count() / 1000),
                static_cast<long>((wait.count() % 1000) * 1'000'000)};
    int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      if (kill_at_) {
        ::kill(-child_, SIGKILL);
      } else {
        say(std::string("received ") + ::strsignal(sig) + "; passing it on to the command");
        ::kill(-child_, sig);
        kill_at_ = clock_.monotonic() + o_.grace;
      }
    }
  }
  ::kill(-child_, SIGKILL);  // what the command left behind in its group
  if (!stop_reason_.empty()) {
    say("job " + claims_.job_id + " stopped (" + stop_reason_ + "); exit status " +
        std::to_string(status));
  }
  if (!o_.status_file.empty()) {
    (void)write_private_file(o_.status_file, json{{"exit_code", status}}.dump() + "\n");
  }
  report(json{{"token", token_}, {"event", "exited"}, {"node", node_}, {"exit_code", status}});
  return status;
}

}  // namespace

int scrub_loader_environment() {
  int removed = 0;
  bool again = true;
  while (again) {
    again = false;
    for (char** e = environ; e && *e; ++e) {
      std::string_view v(*e);
      std::string name(v.substr(0, v.find('=')));
      if (is_loader_variable(name)) {
        ::unsetenv(name.c_str());
        ++removed;
        again = true;  // environ changed under us: start over
        break;
      }
    }
  }
  return removed;
}

int run_exec(const ExecOptions& o, const core::Clock& clock) {
  (void)scrub_loader_environment();
  // Dispositions inherited from whoever started exec (an executor may ignore SIGTERM so that
  // only exec hears it) are not the command's.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::signal(sig, SIG_DFL);
  if (o.command.empty()) {
    say("no command given (claimgate exec ... -- COMMAND [ARGS...])");
    return 2;
  }
  Node n(o, clock);
  return n.run();
}

}  // namespace cg::jobs
