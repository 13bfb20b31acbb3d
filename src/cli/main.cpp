// claimgate: the binary only wires the parts together.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string_view>

#include "cli/audit_commands.h"
#include "cli/certs_commands.h"
#include "cli/jobs_client.h"
#include "cli/jobs_commands.h"
#include "cli/policy_commands.h"
#include "cli/saml_commands.h"
#include "cli/serve_commands.h"
#include "cli/token_commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "claimgate: an identity-aware gateway for ML platforms (SAML 2.0 SSO, claims to roles, job "
      "tokens)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "claimgate " CG_VERSION);
  int exit_code = 0;
  cg::cli::add_saml_commands(app, exit_code);
  cg::cli::add_serve_commands(app, exit_code);
  cg::cli::add_policy_commands(app, exit_code);
  cg::cli::add_audit_commands(app, exit_code);
  cg::cli::add_token_commands(app, exit_code);
  cg::cli::add_jobs_commands(app, exit_code);
  cg::cli::add_certs_commands(app, exit_code);
  // `jobs submit ... -- COMMAND`: the command passes through verbatim, never parsed by CLI11.
  cg::cli::take_job_command(argc, argv);
  if (argc > 1 && std::string_view(argv[1]) == "exec") cg::cli::take_exec_command(argc, argv, 2);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors exit 2, as documented
  }
  return exit_code;
}
