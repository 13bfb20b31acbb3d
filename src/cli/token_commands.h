// `claimgate login | logout | token | whoami | admin revoke`: the terminal's side of the
// gateway's tokens (docs/tokens.md). Credentials live in ~/.config/claimgate/credentials.json
// (mode 0600), one entry per gateway (cli/credentials.h); python/claimgate reads and refreshes
// the same file.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

void add_token_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
