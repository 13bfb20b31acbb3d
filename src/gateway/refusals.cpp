#include "gateway/refusals.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/encoding.h"

namespace cg::gateway {
namespace {

constexpr Audience O = Audience::kOperator;
constexpr Audience C = Audience::kCaller;
constexpr Next kRetry = Next::kRetry;
constexpr Next kContact = Next::kContact;

// Sentences several codes share. They say what happened in the person's words: no setting, no
// address, no attribute name (those are the operator's, in the error's message).
constexpr const char* kUnreadable =
    "The answer your identity provider sent to this service could not be read.";
constexpr const char* kIdpSetup =
    "Your identity provider and this service are not yet set up correctly for each other, so "
    "the sign-in cannot finish.";
constexpr const char* kNotGenuine =
    "The answer from your identity provider could not be confirmed as genuine, so it was not "
    "accepted.";
constexpr const char* kUnsafeMethod =
    "Your identity provider protects its answers in a way this service does not accept as "
    "safe.";
constexpr const char* kNoDecrypt =
    "This service could not decrypt the answer your identity provider sent.";
constexpr const char* kTooLate =
    "The sign-in took too long, so the answer from your identity provider expired before this "
    "service could use it.";
constexpr const char* kClocks =
    "The clocks of this service and of your identity provider disagree by more than is "
    "allowed, so the answer to your sign-in looked out of date.";
constexpr const char* kLost =
    "This service has no record of the sign-in this answer belongs to: it was started too long "
    "ago, in another browser or window, or has finished already.";
constexpr const char* kUnavailable =
    "This service cannot complete the request at the moment, because a part it depends on is "
    "unavailable.";
constexpr const char* kInternal = "Something went wrong inside this service.";
constexpr const char* kUpstream = "The application behind this service did not answer properly.";
constexpr const char* kLogout = "Signing out at your identity provider did not complete.";
constexpr const char* kGroups =
    "You belong to more groups than your identity provider can send, and this service could "
    "not look them up.";

// One entry per code of every part, in code order (refusal_kind() searches by number). A new
// code in src/*/errors.h needs its line here: RefusalsTest.EveryCodeHasAnEntry reads the
// headers and fails otherwise.
constexpr RefusalKind kTable[] = {
    // src/core
    {1001, O, kContact, kUnreadable},
    {1002, O, kContact, kUnreadable},
    {1003, O, kContact, kUnreadable},
    {1004, O, kContact, kUnreadable},
    {1005, O, kContact, kInternal},
    {1007, O, kContact,
     "The answer your identity provider sent is larger than this service "
     "accepts."},
    // src/crypto
    {2001, O, kContact, kInternal},
    {2002, O, kContact, kInternal},
    {2003, O, kContact, kInternal},
    {2004, O, kContact, kInternal},
    {2005, O, kContact, kInternal},
    {2006, O, kRetry, "Your sign-in with this service is no longer valid."},
    {2007, O, kRetry, "Your sign-in with this service is no longer valid."},
    {2008, O, kContact, kInternal},
    {2009, C, kRetry, nullptr},
    {2010, C, kRetry, nullptr},
    {2011, C, kRetry, nullptr},
    {2012, C, kRetry, nullptr},
    // src/xml
    {3001, O, kContact,
     "The answer your identity provider sent is larger than this service "
     "accepts (this can happen to accounts in very many groups)."},
    {3002, O, kContact, kUnreadable},
    {3003, O, kContact, kUnreadable},
    {3004, O, kContact, kUnreadable},
    {3005, O, kContact, kUnreadable},
    {3006, O, kContact, kNotGenuine},
    {3101, O, kContact, kNotGenuine},
    {3102, O, kContact, kNotGenuine},
    {3103, O, kContact, kNotGenuine},
    {3104, O, kContact, kNotGenuine},
    {3105, O, kContact, kUnsafeMethod},
    {3106, O, kContact, kUnsafeMethod},
    {3107, O, kContact, kNotGenuine},
    {3108, O, kContact, kNotGenuine},
    {3109, O, kContact, kNotGenuine},
    {3110, O, kContact, kNotGenuine},
    {3111, O, kContact, kIdpSetup},
    {3112, O, kContact, kNotGenuine},
    {3113, O, kContact, kIdpSetup},
    {3201, O, kContact, kUnsafeMethod},
    {3202, O, kContact, kUnsafeMethod},
    {3203, O, kContact, kNoDecrypt},
    {3204, O, kContact, kNoDecrypt},
    {3205, O, kContact, kNoDecrypt},
    {3206, O, kContact, kInternal},
    {3207, O, kContact, kInternal},
    // src/saml
    {4001, O, kContact, kUnreadable},
    {4002, O, kContact, kUnreadable},
    {4003, O, kContact, kIdpSetup},
    {4004, O, kContact, kIdpSetup},
    {4005, O, kContact, kIdpSetup},
    {4006, O, kContact,
     "Your identity provider did not sign you in to this service. Often "
     "this means your account has not been given access to it."},
    {4007, O, kRetry, kLost},
    {4008, O, kContact, kNotGenuine},
    {4009, O, kContact, kIdpSetup},
    {4010, O, kContact, kIdpSetup},
    {4011, O, kContact, kIdpSetup},
    {4012, O, kRetry, kTooLate},
    {4013, O, kContact, kClocks},
    {4014, O, kContact, "Your identity provider did not say who you are."},
    {4015, O, kContact, kIdpSetup},
    {4016, O, kContact, kIdpSetup},
    {4017, O, kRetry, kTooLate},
    {4018, O, kRetry, kLost},
    {4019, O, kContact, kClocks},
    {4020, O, kRetry, kTooLate},
    {4021, O, kContact, kIdpSetup},
    {4022, O, kRetry,
     "This answer from your identity provider was used already, perhaps "
     "because a page was reloaded or the back button was pressed."},
    {4023, O, kContact, kIdpSetup},
    {4024, O, kRetry, "Your session at your identity provider has ended."},
    {4026, O, kContact, kIdpSetup},
    {4027, O, kContact, kIdpSetup},
    {4028, O, kContact, kIdpSetup},
    {4029, O, kContact, kUnreadable},
    {4030, O, kRetry,
     "Signing in has to start from this service, not from your identity "
     "provider's portal."},
    {4031, O, kContact, kUnreadable},
    {4032, O, kRetry, kLogout},
    {4034, O, kRetry, kLogout},
    {4035, O, kRetry, kUnavailable},
    {4036, O, kContact,
     "Your account is missing information this service needs, such as the "
     "groups you belong to, so you cannot be signed in."},
    {4037, O, kContact, kGroups},
    {4038, O, kContact, kInternal},
    {4039, O, kContact,
     "Your identity provider did not send anything this service can use to "
     "recognise your account from one sign-in to the next."},
    {4040, O, kContact, kIdpSetup},
    // src/session
    {5001, O, kRetry, kUnavailable},
    {5002, O, kContact, kInternal},
    {5003, O, kRetry, "Your sign-in with this service is no longer valid."},
    {5004, O, kRetry, kUnavailable},
    {5005, O, kRetry, kUnavailable},
    // src/http
    {6001, O, kContact, kInternal},
    {6002, O, kContact, kInternal},
    {6003, O, kContact, "The request is larger than this service accepts."},
    {6004, C, kRetry, nullptr},
    {6005, C, kRetry, nullptr},
    {6006, O, kRetry, kUpstream},
    {6007, O, kRetry, kUpstream},
    {6008, O, kRetry, kUpstream},
    {6009, O, kContact, kInternal},
    {6010, O, kRetry, kUpstream},
    {6011, O, kContact, kInternal},
    {6012, C, kRetry, nullptr},
    {6013, C, kRetry, nullptr},
    {6014, C, kRetry, nullptr},
    // src/gateway
    {6501, O, kRetry,
     "The sign-in link names an identity provider this service does not know "
     "or cannot use."},
    {6502, O, kRetry, kLost},
    {6503, O, kRetry,
     "This answer from your identity provider belongs to a sign-in that was "
     "started in another browser or window."},
    {6504, O, kRetry,
     "The sign-in reached this service without the answer from your identity "
     "provider."},
    {6505, O, kRetry, kUnavailable},
    {6506, C, kContact, nullptr},
    {6507, C, kContact, nullptr},
    {6508, C, kRetry, nullptr},
    {6509, O, kRetry, kLogout},
    {6510, C, kRetry, nullptr},
    {6511, C, kRetry, nullptr},
    {6512, C, kRetry, nullptr},
    {6513, C, kRetry, nullptr},
    {6514, C, kRetry, nullptr},
    {6515, C, kContact, nullptr},
    {6516, C, kContact, nullptr},
    {6517, O, kContact, kIdpSetup},
    {6518, O, kContact, kGroups},
    {6520, C, kContact, nullptr},
    {6521, C, kRetry, nullptr},
    {6522, C, kRetry, nullptr},
    {6523, O, kContact, kInternal},
    {6530, C, kRetry, nullptr},
    {6540, O, kContact, kInternal},
    {6541, O, kRetry, kUnavailable},
    // src/policy
    {7001, C, kRetry, nullptr},
    {7002, C, kRetry, nullptr},
    {7003, C, kRetry, nullptr},
    {7004, O, kContact, kInternal},
    // src/audit
    {8001, O, kRetry, kUnavailable},
    {8002, O, kRetry, kUnavailable},
    {8003, O, kContact, kInternal},
    {8004, O, kContact, kInternal},
    {8005, O, kContact, kInternal},
    {8006, O, kContact, kInternal},
    {8007, O, kContact, kInternal},
    {8008, O, kContact, kInternal},
    {8009, O, kContact, kInternal},
    {8010, O, kRetry, kUnavailable},
    {8011, C, kRetry, nullptr},
    // src/jobs
    {9001, C, kRetry, nullptr},
    {9002, C, kRetry, nullptr},
    {9003, O, kRetry, kUnavailable},
    {9004, O, kContact, kInternal},
    {9005, C, kRetry, nullptr},
    {9006, C, kContact, nullptr},
    {9007, C, kRetry, nullptr},
    {9010, C, kRetry, nullptr},
    {9011, C, kRetry, nullptr},
    {9012, C, kRetry, nullptr},
    {9013, C, kRetry, nullptr},
    {9014, C, kRetry, nullptr},
    {9015, C, kContact, nullptr},
    {9016, C, kContact, nullptr},
    {9017, C, kContact, nullptr},
    {9018, C, kContact, nullptr},
    {9019, O, kRetry, kUnavailable},
    {9020, C, kContact, nullptr},
    {9021, O, kContact, kInternal},
    {9022, C, kContact, nullptr},
    {9023, O, kContact, kInternal},
};

constexpr RefusalKind kUnlisted{0, O, kContact, kInternal};

constexpr const char* kDefaultContact = "your IT help desk or the team that runs this service";

bool refused_in_contact(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

std::span<const RefusalKind> refusal_table() { return kTable; }

const RefusalKind& refusal_kind(int code) {
  auto it = std::lower_bound(std::begin(kTable), std::end(kTable), code,
                             [](const RefusalKind& k, int c) { return k.code < c; });
  if (it != std::end(kTable) && it->code == code) return *it;
  return kUnlisted;
}

std::string contact_url_problem(std::string_view url) {
  constexpr const char* kAllowed =
      "a mailto: address (mailto:ml-platform@example.org) or an https:// URL, at most 512 "
      "bytes, without spaces, quotes, angle brackets or control bytes";
  if (url.empty() || url.size() > 512) return kAllowed;
  for (char ch : url) {
    auto c = static_cast<unsigned char>(ch);
    if (refused_in_contact(c) || c == ' ' || c == '"' || c == '\'' || c == '<' || c == '>' ||
        c == '\\' || c == '`' || c >= 0x80) {
      return kAllowed;
    }
  }
  if (url.starts_with("mailto:")) {
    std::string_view addr = url.substr(
        7, url.find('?') == std::string_view::npos ? std::string_view::npos : url.find('?') - 7);
    size_t at = addr.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 >= addr.size()) return kAllowed;
    return "";
  }
  if (url.starts_with("https://") && url.size() > 8 && url[8] != '/') return "";
  return kAllowed;
}

std::string contact_text_problem(std::string_view text) {
  if (text.size() > 300) return "at most 300 bytes";
  for (char ch : text) {
    if (refused_in_contact(static_cast<unsigned char>(ch))) return "text without control bytes";
  }
  return "";
}

RefusalReply choose_reply(const Error& e, const PagesConfig& pages, std::string_view request_id,
                          std::string details_because) {
  const RefusalKind& k = refusal_kind(e.code);
  RefusalReply out;
  out.next = k.next;
  if (k.message_for == Audience::kCaller || !k.person) {
    out.message = e.message;
  } else {
    out.message = k.person;
    if (!details_because.empty()) {
      out.detail = e.message;
      out.why_detail = std::move(details_because);
    }
  }
  out.contact_text = pages.contact_text.empty() ? kDefaultContact : pages.contact_text;
  out.contact_url = pages.contact_url;
  if (out.contact_url.starts_with("mailto:") && !request_id.empty() &&
      out.contact_url.find("subject=") == std::string::npos) {
    std::string subject = "Sign-in problem (request id " + std::string(request_id) + ")";
    out.contact_url += out.contact_url.find('?') == std::string::npos ? "?" : "&";
    out.contact_url += "subject=" + core::url_encode(subject);
  }
  return out;
}

std::string refusal_json(const Error& e, const RefusalReply& reply, std::string_view request_id) {
  nlohmann::json j{{"error", e.name},
                   {"code", e.code},
                   {"message", reply.message},
                   {"request_id", request_id},
                   {"next", reply.next == Next::kRetry ? "retry" : "contact"}};
  if (reply.next == Next::kContact) {
    nlohmann::json c{{"text", reply.contact_text}};
    if (!reply.contact_url.empty()) c["url"] = reply.contact_url;
    j["contact"] = std::move(c);
  }
  if (!reply.detail.empty()) j["detail"] = reply.detail;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace cg::gateway
