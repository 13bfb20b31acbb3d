// The gateway's HTML pages: error pages, the IdP chooser, whoami and "signed out". Small,
// self-contained (inline CSS, no scripts), every value escaped (xml::escape, valid in HTML).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "session/session.h"

namespace cg::gateway {

struct ErrorPage {
  unsigned status = 500;
  std::string title;    // "Sign-in failed"
  std::string code;     // "4021 conditions.audience" (empty: none)
  std::string message;  // the sentence
  std::string request_id;
  std::string action_url;  // optional: a link to try again
  std::string action_label;
};
std::string render_error_page(const ErrorPage& p);

struct IdpChoice {
  std::string name;
  std::string label;
  std::string url;
};
std::string render_chooser(const std::vector<IdpChoice>& idps);

struct WhoamiView {
  const session::Session* session = nullptr;
  std::string last_seen;
  std::string expires;
  std::string idle_expires;
  std::string logout_url;
  std::shared_ptr<const policy::Grants> grants;  // roles per project, under the policy in force
};
std::string render_whoami(const WhoamiView& v);
std::string render_signed_out(std::string_view detail);

}  // namespace cg::gateway
