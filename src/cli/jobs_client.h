// `claimgate jobs submit | list | status | logs | cancel | wait`: training jobs from the
// terminal, as the person `claimgate login` signed in (cli/credentials.h), through the jobs API
// (docs/jobs.md). Tables for people, --json for scripts; a refusal prints the gateway's sentence
// and exits 1; `wait` (and `submit --follow`) exit with the job's exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace cg::cli {

// Takes the job's command out of argv before CLI11 sees it: everything after the first "--" of
// `claimgate jobs submit ...`, verbatim (CLI11 reads an argument such as ["a"] as a list).
// Returns whether argv was a `jobs submit` with a "--"; argc shrinks to end before the "--".
bool take_job_command(int& argc, char** argv);

// Adds the client's subcommands to `jobs`.
void add_jobs_client_commands(CLI::App& jobs, int& exit_code);

}  // namespace cg::cli
