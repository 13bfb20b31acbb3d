// The direct exclusive c14n must produce exactly libxml2's bytes: every subtree of documents
// that exercise the tricky parts, with and without InclusiveNamespaces prefixes.
#include "xml/c14n.h"

#include <gtest/gtest.h>
#include <libxml/tree.h>

#include <functional>

#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

constexpr const char* kTricky = R"(<?xml version="1.0"?>
<a:Root xmlns:a="urn:a" xmlns="urn:default" xmlns:b="urn:b" xmlns:unused="urn:u" b:attr="x&amp;y&lt;&#10;&#9;&#13;" plain='q"uote' xml:lang="en" z="1" b:a="2">
  <Child id="1">text &amp; &lt;more&gt; &#13; <![CDATA[cdata <here> & there]]><!-- comment --></Child>
  <b:Other xmlns="" attr2="z" attr1="y"><Inner xmlns:c="urn:c" c:x="1" b:y="2">t</Inner><?pi some data?><?empty?></b:Other>
  <a:Same xmlns:a="urn:a2"><a:Deeper xmlns:a="urn:a"/></a:Same>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><x/></Signature>
  <Back xmlns="urn:default"><Plain xmlns=""/></Back>
</a:Root>)";

void for_each_element(xmlNode* n, const std::function<void(xmlNode*)>& f) {
  for (; n; n = next_element(n)) {
    f(n);
    for_each_element(first_element(n), f);
  }
}

int compare_all(const std::string& text) {
  auto doc = Document::parse(text);
  EXPECT_TRUE(doc.has_value()) << doc.error().message;
  if (!doc) return 0;
  int compared = 0;
  for (const std::vector<std::string>& prefixes :
       {std::vector<std::string>{}, {"#default", "b"}, {"saml", "ds", "xs"}, {"unused", "a"}}) {
    for_each_element(doc->root(), [&](xmlNode* e) {
      xmlNode* excluded = nullptr;
      for (xmlNode* k = first_element(e); k; k = next_element(k))
        if (local_name(k) == "Signature") excluded = k;
      auto fast = exc_c14n(e, excluded, prefixes);
      auto ref = exc_c14n_reference(e, excluded, prefixes);
      ASSERT_TRUE(fast.has_value() && ref.has_value());
      EXPECT_EQ(*fast, *ref) << "at <" << local_name(e) << ">";
      ++compared;
    });
  }
  return compared;
}

// Namespaces (default, undeclared, redeclared, unused), attribute order, escaping, CDATA, PIs.
TEST(C14nTest, MatchesLibxml2OnTrickyDocument) { EXPECT_EQ(compare_all(kTricky), 4 * 10); }

// Signed, encrypted and plain SAML Responses as the fixture IdP builds them.
TEST(C14nTest, MatchesLibxml2OnResponses) {
  testing::DeterministicRandom rnd;
  saml::ResponseSpec s;
  s.issuer = "https://idp";
  s.destination = s.recipient = "https://sp/acs";
  s.audience = "https://sp";
  s.attributes = {{"groups", {"a & b", "<c>", "d\"e"}}};
  s.sign_response = true;
  auto signed_both =
      saml::build_response(s, testing::idp_keys().key, testing::idp_keys().cert, rnd);
  ASSERT_TRUE(signed_both.has_value());
  EXPECT_GT(compare_all(signed_both->xml), 50);
  s.encrypt_for = testing::sp_keys().cert;
  auto encrypted = saml::build_response(s, testing::idp_keys().key, testing::idp_keys().cert, rnd);
  ASSERT_TRUE(encrypted.has_value());
  EXPECT_GT(compare_all(encrypted->xml), 20);
}

// Comments are not part of the canonical form; the excluded subtree is left out entirely.
TEST(C14nTest, LeavesOutCommentsAndExcludedNode) {
  auto doc = Document::parse("<r xmlns='urn:r'><!--c-->a<s><t/></s>b</r>");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(*exc_c14n(doc->root(), first_element(doc->root()), {}), "<r xmlns=\"urn:r\">ab</r>");
}

}  // namespace
}  // namespace cg::xml
