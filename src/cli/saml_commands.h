// `claimgate saml ...`: the tools a person reaches for when an IdP setup does not work.
#pragma once

#include <CLI/CLI.hpp>

namespace cg::cli {

// Adds `saml validate | metadata | decode | request | demo` under `app`; each sets `exit_code`.
void add_saml_commands(CLI::App& app, int& exit_code);

}  // namespace cg::cli
