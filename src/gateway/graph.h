// Microsoft Graph, for the groups Entra ID leaves out of an assertion (the overage claim):
// graph.cpp says how. Thread-safe; the application token is cached until a minute before it
// expires. Each call is bounded (5 s) and awaited by the sign-in's coroutine on its own
// io_context: only that sign-in waits, the other connections of the thread go on.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "http/asio.h"
#include "saml/config.h"
#include "saml/identity.h"

namespace cg::gateway {

class GraphGroups {
 public:
  GraphGroups(saml::GraphConfig cfg, const core::Clock& clock);
  // The group object ids of the user the assertion names (its objectidentifier claim).
  // Fails (6518 gateway.graph) with the endpoint's own words.
  http::awaitable<Result<std::vector<std::string>>> member_groups(const saml::Identity& id);

 private:
  http::awaitable<Result<std::string>> token();
  saml::GraphConfig cfg_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::string token_;
  core::WallTime token_expires_{};
};

}  // namespace cg::gateway
