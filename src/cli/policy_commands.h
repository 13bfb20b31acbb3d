// `claimgate policy explain|test|roles`: the access policy from the command line, so a team
// can ask "may this person do that, and why?" and keep its policy under test in its own CI.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_policy_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
