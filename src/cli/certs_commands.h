// `claimgate certs status | rollover`: the SP certificate's lifecycle.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_certs_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
