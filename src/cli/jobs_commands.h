// `claimgate exec` (a node's check before it runs a job) and `claimgate jobs serve` (the jobs
// service alone, behind a gateway).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace cg::cli {

void add_jobs_commands(CLI::App& app, int& exit_code);
// The options and callback of `claimgate exec` on `cmd` (also the whole of claimgate-exec).
void add_exec_options(CLI::App& cmd, int& exit_code);
// Takes exec's COMMAND out of argv before CLI11 sees it: everything after the first "--" at or
// after argv[first], verbatim (CLI11 would read an argument such as [64,64] as a list, and the
// command would no longer match its token's digest). argc shrinks to end before the "--".
void take_exec_command(int& argc, char** argv, int first);

}  // namespace cg::cli
