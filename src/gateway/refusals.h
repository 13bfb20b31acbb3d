// What a refusal says, and to whom. Every error the gateway answers with (an HTML page or a
// JSON body, Gateway::send_error) is looked up here by its code number: one table, one entry per
// code of every part (src/*/errors.h), never a match on the message's words.
//
// An error's message is written for one audience:
//  - the operator (kOperator): config keys, the IdP's address, the attributes that arrived
//    (4036 claims.missing, 3106 signature.weak_algorithm, ...). A person who cannot sign in
//    is shown the entry's plain sentence instead, with the request id; the message itself goes
//    to the log and the audit record, and to the page only for an administrator (a session
//    holding audit:read in every project: the audit log has the same words) or when
//    pages.show_details is on;
//  - the caller (kCaller): the message is meant for whoever sent the request (a denial's rule,
//    an expired token and what to run, a job specification's problems) and is shown as it is.
//
// And each entry says what helps next: kRetry for a refusal that may pass on a second try
// (an expired or replayed response, a lost sign-in, a store briefly down); kContact for one
// that repeats the same way until someone changes a setting (missing claims, no user id, weak
// algorithms, wrong audience, clocks that disagree), where the page offers pages.contact.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::gateway {

enum class Audience { kOperator, kCaller };
enum class Next { kRetry, kContact };  // retry: "sign in again" / "try again"

struct RefusalKind {
  int code = 0;
  Audience message_for = Audience::kOperator;
  Next next = Next::kContact;
  const char* person = nullptr;  // the plain sentence (kOperator entries; null for kCaller)
};

// Every entry, in code order.
std::span<const RefusalKind> refusal_table();

// The entry for `code`; a code the table lacks (none should: unit-tested) reads as an
// operator-facing refusal with a general sentence and kContact.
const RefusalKind& refusal_kind(int code);

// pages: how the gateway's pages speak to the people it refuses (docs/configuration.md).
struct PagesConfig {
  bool show_details = false;  // pages.show_details: everyone sees the operator's detail
  std::string contact_url;    // pages.contact.url: mailto:... or https://... ("" : none)
  std::string contact_text;   // pages.contact.text: who to ask ("" : the default sentence)
};

// Whether `url` may be pages.contact.url: "" when it may, else what is allowed (a mailto: with
// an address, or an https:// URL; no spaces, quotes, angle brackets or control bytes; at most
// 512 bytes). `text` likewise for pages.contact.text (at most 300 bytes, no control bytes).
std::string contact_url_problem(std::string_view url);
std::string contact_text_problem(std::string_view text);

// What one refusal shows, chosen from the error's entry and who looks.
struct RefusalReply {
  std::string message;     // what the person reads (the entry's sentence, or a kCaller message)
  std::string detail;      // the operator's words, when this viewer may see them ("" : not shown)
  std::string why_detail;  // why they are shown ("" : not shown)
  Next next = Next::kContact;
  std::string contact_url;   // pages.contact.url, with the request id in a mailto's subject
  std::string contact_text;  // who to ask: pages.contact.text or the default
};
// `details_because`: "" when the viewer sees only the person's sentence, else why they may see
// the operator's detail ("you are an administrator", "pages.show_details is on").
RefusalReply choose_reply(const Error& e, const PagesConfig& pages, std::string_view request_id,
                          std::string details_because);

// The JSON body of a refusal: error (name), code, message (as the page's), request_id, next
// ("retry" | "contact"), contact (when next is contact: url and/or text), detail (the
// operator's words, under the same rule as the page).
std::string refusal_json(const Error& e, const RefusalReply& reply, std::string_view request_id);

}  // namespace cg::gateway
