// claimgate-exec: `claimgate exec` as a binary of its own, linked with only what a node needs
// (no XML, SAML or YAML libraries), so that it starts in a fraction of the time. Same options.
#include <CLI/CLI.hpp>

#include "cli/jobs_commands.h"
#include "crypto/openssl_init.h"
#include "jobs/exec.h"

int main(int argc, char** argv) {
  // Before anything else: no loader variable (LD_PRELOAD, ...) goes further than this process,
  // which the loader has already started (the executors never pass one; see docs/jobs.md).
  cg::jobs::scrub_loader_environment();
  cg::crypto::skip_openssl_cleanup_at_exit();
  CLI::App app{"claimgate-exec: verify a job's token, then run its command (on every node)"};
  app.set_version_flag("--version", "claimgate-exec " CG_VERSION);
  int exit_code = 0;
  cg::cli::add_exec_options(app, exit_code);
  cg::cli::take_exec_command(argc, argv, 1);  // COMMAND verbatim, never parsed by CLI11
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
