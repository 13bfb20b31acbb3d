#include "gateway/refusals.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "gateway/pages.h"

namespace cg::gateway {
namespace {

// Every code of every part, read from src/*/errors.h (as tools/check_error_codes.py reads them):
// number -> "src/saml/errors.h kClaimsMissing".
std::map<int, std::string> all_codes() {
  std::map<int, std::string> out;
  std::regex code_line(R"((k\w+)\s*=\s*(\d+),)");
  for (const auto& dir : std::filesystem::directory_iterator(CG_SOURCE_DIR "/src")) {
    auto header = dir.path() / "errors.h";
    if (!std::filesystem::exists(header)) continue;
    std::ifstream in(header);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), code_line), end; it != end; ++it) {
      out[std::stoi((*it)[2])] = header.string() + " " + (*it)[1].str();
    }
  }
  return out;
}

bool in_table(int code) {
  for (const auto& k : refusal_table()) {
    if (k.code == code) return true;
  }
  return false;
}

Error error(int code, std::string name, std::string message) {
  return Error{code, std::move(name), std::move(message)};
}

// A new code in any errors.h cannot land without its person's sentence and its next step.
TEST(RefusalsTest, EveryCodeHasAnEntry) {
  auto codes = all_codes();
  ASSERT_GT(codes.size(), 150u);  // the headers were found and read
  for (const auto& [code, where] : codes) {
    EXPECT_TRUE(in_table(code)) << where << " (" << code << ") has no line in refusals.cpp";
  }
}

// Every entry names a code that exists, once, in order; operator-facing ones have a sentence.
TEST(RefusalsTest, EveryEntryIsARealCodeWithWhatThePersonReads) {
  auto codes = all_codes();
  int last = 0;
  for (const auto& k : refusal_table()) {
    EXPECT_TRUE(codes.contains(k.code)) << k.code << " is in the table but in no errors.h";
    EXPECT_GT(k.code, last) << "out of order or twice: " << k.code;
    last = k.code;
    EXPECT_TRUE(k.next == Next::kRetry || k.next == Next::kContact) << k.code;
    if (k.message_for == Audience::kOperator) {
      ASSERT_NE(k.person, nullptr) << k.code;
      EXPECT_GT(std::string_view(k.person).size(), 20u) << k.code;
    }
  }
}

// The sign-in refusals (XML, signatures, encryption, SAML rules, the ACS's own) speak to the
// operator: the person reads a sentence of the table, never a setting.
TEST(RefusalsTest, SignInRefusalsHaveAPlainSentence) {
  std::regex operator_words(R"(saml\.|idps|\[|\]|_|config|\.yaml|https?:|NameID|xml)",
                            std::regex::icase);
  for (const auto& [code, where] : all_codes()) {
    bool signin = (code >= 3000 && code < 5000) || (code >= 6501 && code <= 6505) || code == 6518;
    if (!signin) continue;
    const RefusalKind& k = refusal_kind(code);
    EXPECT_EQ(k.message_for, Audience::kOperator) << where;
    ASSERT_NE(k.person, nullptr) << where;
    EXPECT_FALSE(std::regex_search(k.person, operator_words)) << where << ": " << k.person;
  }
}

// The refusals that repeat until a setting changes offer contact; those that may pass on a
// second try offer signing in again.
TEST(RefusalsTest, RepeatingRefusalsOfferContactOthersRetry) {
  for (int code : {4036, 4039, 3106, 3105, 3201, 3202, 4021, 4004, 4005, 4013, 4019, 4026, 4028,
                   3108, 3109, 4006, 4037, 4040, 6518}) {
    EXPECT_EQ(refusal_kind(code).next, Next::kContact) << code;
  }
  for (int code : {4012, 4017, 4020, 4022, 4007, 4018, 6502, 6503, 6504, 4030, 4035, 6505, 8002}) {
    EXPECT_EQ(refusal_kind(code).next, Next::kRetry) << code;
  }
}

// A code the table lacks still gets a plain sentence and contact (never the raw message).
TEST(RefusalsTest, UnlistedCodeReadsAsInternal) {
  EXPECT_FALSE(in_table(4999));
  auto reply = choose_reply(error(4999, "x.y", "saml.idps[a].secret_key is wrong"), {}, "r1", "");
  EXPECT_EQ(reply.next, Next::kContact);
  EXPECT_EQ(reply.message.find("secret_key"), std::string::npos);
}

// A person refused for a missing group reads the sentence, not the config keys; the detail
// appears only when the viewer may see it.
TEST(RefusalsTest, PersonSeesSentenceOperatorSeesDetail) {
  Error e = error(4036, "claims.missing",
                  "none of the claims 'groups', 'roles' arrived (saml.idps[corp].required_claims "
                  "sets what this IdP must send); Attributes that arrived: mail, displayName");
  auto person = choose_reply(e, {}, "0123456789abcdef", "");
  EXPECT_NE(person.message.find("missing information"), std::string::npos);
  EXPECT_EQ(person.message.find("required_claims"), std::string::npos);
  EXPECT_TRUE(person.detail.empty());
  EXPECT_EQ(person.next, Next::kContact);
  EXPECT_NE(person.contact_text.find("help desk"), std::string::npos);  // the default

  auto admin = choose_reply(e, {}, "0123456789abcdef", "you are an administrator");
  EXPECT_EQ(admin.detail, e.message);
  EXPECT_EQ(admin.why_detail, "you are an administrator");
}

// A caller-facing message (a denial's rule, a token's expiry) is shown as it is, with no detail.
TEST(RefusalsTest, CallerMessagesAreShownAsTheyAre) {
  Error e = error(6512, "gateway.token_expired", "expired at 12:00; run claimgate token");
  auto reply = choose_reply(e, {}, "r", "pages.show_details is on");
  EXPECT_EQ(reply.message, e.message);
  EXPECT_TRUE(reply.detail.empty());
}

// JSON keeps the machine code and the plain message; the detail only under the same rule.
TEST(RefusalsTest, JsonCarriesCodePlainMessageAndNext) {
  Error e = error(3106, "signature.weak_algorithm", "SHA-1; saml.idps[corp].allow_sha1 allows it");
  PagesConfig pages;
  pages.contact_url = "mailto:ml@example.org";
  pages.contact_text = "the ML platform team";
  auto person = nlohmann::json::parse(
      refusal_json(e, choose_reply(e, pages, "00ff00ff00ff00ff", ""), "00ff00ff00ff00ff"));
  EXPECT_EQ(person["code"], 3106);
  EXPECT_EQ(person["error"], "signature.weak_algorithm");
  EXPECT_EQ(person["next"], "contact");
  EXPECT_EQ(person["contact"]["text"], "the ML platform team");
  EXPECT_EQ(
      person["contact"]["url"],
      "mailto:ml@example.org?subject=Sign-in%20problem%20%28request%20id%2000ff00ff00ff00ff%29");
  EXPECT_FALSE(person.contains("detail"));
  EXPECT_EQ(person["message"].get<std::string>().find("allow_sha1"), std::string::npos);
  auto op = nlohmann::json::parse(
      refusal_json(e, choose_reply(e, pages, "r", "pages.show_details is on"), "r"));
  EXPECT_EQ(op["detail"], e.message);
}

// pages.contact.url: a mailto: with an address or an https:// URL, nothing that could leave
// the attribute it is written into.
TEST(RefusalsTest, ContactUrlIsValidated) {
  EXPECT_EQ(contact_url_problem("mailto:ml-platform@example.org"), "");
  EXPECT_EQ(contact_url_problem("mailto:a@b.org?cc=c@d.org"), "");
  EXPECT_EQ(contact_url_problem("https://help.example.org/ml"), "");
  for (const char* bad :
       {"", "http://help.example.org", "javascript:alert(1)", "mailto:", "mailto:nobody",
        "https://", "https:///x", "https://a.org/\"onmouseover=x", "https://a.org/<b>",
        "https://a.org/ x", "mailto:a@b.org\r\nBcc: c@d.org", "ftp://a.org"}) {
    EXPECT_NE(contact_url_problem(bad), "") << bad;
  }
  EXPECT_NE(contact_url_problem(std::string("https://a.org/") + std::string(600, 'x')), "");
  EXPECT_EQ(contact_text_problem("the ML platform team (#ml-platform on Slack)"), "");
  EXPECT_NE(contact_text_problem("a\nb"), "");
  EXPECT_NE(contact_text_problem(std::string(301, 'x')), "");
}

// The page escapes every value it holds: message, detail, contact, request id, action.
TEST(RefusalsTest, PageEscapesEveryValue) {
  ErrorPage p;
  p.status = 403;
  p.title = "Sign-in <failed>";
  p.code = "4036 claims.missing";
  p.message = "a <b>message</b>";
  p.request_id = "<rid>";
  p.action_url = "/saml/login?idp=a&rd=\"x\"";
  p.action_label = "Sign in again";
  p.next = Next::kContact;
  p.contact_url = "https://help.example.org/?a=1&b=2";
  p.contact_text = "the <team>";
  p.detail = "saml.idps[corp].required_claims <script>alert(1)</script>";
  p.why_detail = "Shown because <you>";
  std::string html = render_error_page(p);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<b>message"), std::string::npos);
  EXPECT_EQ(html.find("<team>"), std::string::npos);
  EXPECT_EQ(html.find("<rid>"), std::string::npos);
  EXPECT_EQ(html.find("<you>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("href=\"https://help.example.org/?a=1&amp;b=2\""), std::string::npos);
  EXPECT_NE(html.find("rd=&quot;x&quot;"), std::string::npos);
  EXPECT_NE(html.find("For the administrator"), std::string::npos);
  // Without a detail, no administrator box.
  p.detail.clear();
  EXPECT_EQ(render_error_page(p).find("For the administrator"), std::string::npos);
}

}  // namespace
}  // namespace cg::gateway
