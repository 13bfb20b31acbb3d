// `claimgate exec` and claimgate-exec: the options, and the run (jobs/exec.h does the work).
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/jobs_commands.h"
#include "core/time.h"
#include "jobs/exec.h"

namespace cg::cli {
namespace {

// exec's COMMAND, when take_exec_command found a "--".
std::optional<std::vector<std::string>>& taken_command() {
  static std::optional<std::vector<std::string>> c;
  return c;
}

int run_exec_command(jobs::ExecOptions o, const std::string& check, const std::string& grace,
                     const std::string& skew) {
  for (auto [text, out, name] :
       {std::tuple{&check, &o.check_interval, "--check-interval"},
        std::tuple{&grace, &o.grace, "--grace"}, std::tuple{&skew, &o.skew, "--skew"}}) {
    if (text->empty()) continue;
    auto d = core::parse_duration(*text);
    if (!d) {
      std::cerr << "claimgate exec: " << name << ": '" << *text
                << "' is not a duration (30s, 5m)\n";
      return 2;
    }
    *out = *d;
  }
  if (o.when_unreachable != "open" && o.when_unreachable != "closed") {
    std::cerr << "claimgate exec: --when-unreachable takes open or closed\n";
    return 2;
  }
  return jobs::run_exec(o, core::SystemClock::instance());
}

}  // namespace

void take_exec_command(int& argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::string_view(argv[i]) != "--") continue;
    taken_command().emplace(argv + i + 1, argv + argc);
    argc = i;
    return;
  }
}

void add_exec_options(CLI::App& cmd, int& exit_code) {
  static jobs::ExecOptions eo;
  static std::string check, grace, skew;
  auto* ex = &cmd;
  ex->add_option("--token-file", eo.token_file, "the job token")->required();
  ex->add_option("--jwks", eo.jwks, "the gateway's JWKS: a file or an http(s) URL")->required();
  ex->add_option("--node-pool", eo.node_pool, "this node's pool (the token's audience)");
  ex->add_option("--job-id", eo.job_id, "refuse a token for another job");
  ex->add_option("--project", eo.project, "refuse a token for another project");
  ex->add_option("--renewal-secret-file", eo.secret_file,
                 "the job's renewal secret (renew the token while the command runs)");
  ex->add_option("--gateway", eo.gateway,
                 "the gateway's URL (revocation, renewal, reports; default: the token's issuer)");
  ex->add_option("--ca-file", eo.ca_file, "CA certificates for the gateway's TLS (PEM)");
  ex->add_option("--status-file", eo.status_file, "write {\"exit_code\": n} here at the end");
  ex->add_option("--env-file", eo.env_file,
                 "the job's variables (a JSON object), set for the command only, after the "
                 "token is verified");
  ex->add_option("--node-name", eo.node_name, "how this node is named in reports");
  ex->add_option("--when-unreachable", eo.when_unreachable,
                 "gateway unreachable at start: closed (refuse, default) or open");
  ex->add_flag("--offline", eo.offline,
               "no online revocation check or renewal (revocation then only by expiry)");
  ex->add_option("--check-interval", check, "how often to check revocation (default 30s)");
  ex->add_option("--grace", grace, "SIGTERM, then SIGKILL this much later (default 10s)");
  ex->add_option("--skew", skew, "clock skew allowed on exp/nbf (default 60s)");
  ex->add_option("command", eo.command, "-- COMMAND [ARGS...]");
  ex->callback([&exit_code] {
    if (taken_command()) eo.command = *taken_command();
    if (eo.command.empty()) {
      std::cerr << "claimgate exec: give the command after --\n";
      exit_code = 2;
      return;
    }
    exit_code = run_exec_command(eo, check, grace, skew);
  });
}

}  // namespace cg::cli
