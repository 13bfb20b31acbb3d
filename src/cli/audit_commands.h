// `claimgate audit verify | report | search | index`.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_audit_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
