// `claimgate serve`, `claimgate check` and `claimgate keys`.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_serve_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
