// `claimgate audit report`: what a SOC 2 / ISO 27001 reviewer asks of the audit log, built
// from the index: every user with their roles and the claim each came from; privileged
// actions; denials; failed sign-ins by error code; sessions per user; tokens alive and who
// created them; sign-ins and denials per day; and whether the chain verifies.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "audit/index.h"
#include "audit/verify.h"
#include "core/clock.h"

namespace cg::audit {

// A verification's outcome as JSON (intact, records, checkpoints, notes, error with file:line).
nlohmann::json verify_json(const VerifyReport& v, const std::vector<std::string>& files);

// Permissions whose use a reviewer sees listed one by one.
const std::vector<std::string>& privileged_permissions();

// The report's content (the JSON format is this, dumped).
Result<nlohmann::json> build_report(Index& index, core::WallTime since, core::WallTime now,
                                    const VerifyReport& chain,
                                    const std::vector<std::string>& files);

std::string report_csv(const nlohmann::json& report);
// One self-contained page (no scripts, no outside resources): tables and SVG charts.
std::string report_html(const nlohmann::json& report);

}  // namespace cg::audit
