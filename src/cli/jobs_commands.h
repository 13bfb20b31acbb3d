// `claimgate exec` (a node's check before it runs a job) and `claimgate jobs serve` (the jobs
// service alone, behind a gateway).
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_jobs_commands(CLI::App& app, int& exit_code);
// The options and callback of `claimgate exec` on `cmd` (also the whole of claimgate-exec).
void add_exec_options(CLI::App& cmd, int& exit_code);

}  // namespace cg::cli
