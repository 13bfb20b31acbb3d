// The gateway's HTML pages: error pages, the IdP chooser, whoami, "sign out?" and "signed
// out". Small,
// self-contained (inline CSS, no scripts), every value escaped (xml::escape, valid in HTML).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/refusals.h"
#include "policy/policy.h"
#include "session/session.h"
#include "session/token.h"

namespace cg::gateway {

// An error page. `message` is what the person reads (a refusal's plain sentence, refusals.h);
// with `next` set, the page says what helps: trying again (the action is the main button), or
// asking `contact_text` (a link to `contact_url` when there is one; the action stays, smaller).
// `detail` (the operator's words) is shown in a box of its own, only when it is given.
struct ErrorPage {
  unsigned status = 500;
  std::string title;    // "Sign-in failed"
  std::string code;     // "4021 conditions.audience" (empty: none)
  std::string message;  // the sentence
  std::string request_id;
  std::string action_url;  // optional: a link to try again
  std::string action_label;
  std::optional<Next> next;  // none: the page says no more than the message
  std::string contact_url;   // pages.contact.url ("" : none)
  std::string contact_text;  // who to ask
  std::string detail;        // for the operator ("" : not shown)
  std::string why_detail;    // why the detail is shown ("you are an administrator", ...)
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
  std::shared_ptr<const policy::Grants> grants;    // roles per project, under the policy in force
  std::vector<session::TokenGrant> tokens;         // the person's CLI logins and agent tokens
  std::shared_ptr<const session::TokenGrant> via;  // the token this request came with, if any
};
std::string render_whoami(const WhoamiView& v);
std::string render_signed_out(std::string_view detail);

// GET /saml/logout: "Sign out?" with a form that POSTs back (a link elsewhere cannot sign
// anyone out; the POST needs the token sealed to the session).
struct LogoutConfirm {
  std::string subject;
  std::string csrf;  // sealed to the session ("logout-form")
  std::string rd;    // where to go afterwards (a safe local path)
};
std::string render_logout_confirm(const LogoutConfirm& f);

// The device page: a signed-in person enters the code `claimgate login --device` shows.
struct DeviceForm {
  std::string subject;
  std::string code;     // prefilled (verification_uri_complete)
  std::string csrf;     // sealed to the session
  std::string problem;  // shown above the form ("" : none)
};
std::string render_device_form(const DeviceForm& f);
std::string render_device_done(bool approved, std::string_view detail);

// The consent page of `claimgate login` (the loopback flow): who asks, on which port of this
// machine, for what, and for how long; the person allows or denies (a form bound to the
// session and to the request).
struct CliConsent {
  std::string subject;
  std::string client;    // what the CLI says it runs on (its host name): a claim, shown as one
  std::string redirect;  // http://127.0.0.1:<port>/<path>, where the code goes
  std::string lifetime;  // "30 days" (tokens.refresh_lifetime)
  std::string roles;     // "data-scientist@vision, ..." ("" : none)
  std::string request;   // sealed: the session and the request's parameters
};
std::string render_cli_consent(const CliConsent& c);

}  // namespace cg::gateway
