#include "xml/document.h"

#include <gtest/gtest.h>

#include "xml/node.h"

namespace cg::xml {
namespace {

std::string code_of(std::string_view text, const ParseLimits& limits = {}) {
  auto d = Document::parse(text, limits);
  return d ? "ok" : d.error().name;
}

// A plain document parses; its root is reachable.
TEST(DocumentTest, ParsesWellFormedXml) {
  auto d = Document::parse("<a xmlns='urn:x' ID='_1'><b>t</b></a>");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(local_name(d->root()), "a");
  EXPECT_EQ(d->find_id("_1"), d->root());
}

// An external entity (XXE) is never resolved: the DOCTYPE alone is refused.
TEST(DocumentTest, RefusesExternalEntities) {
  EXPECT_EQ(code_of("<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>"),
            "xml.dtd_forbidden");
  EXPECT_EQ(code_of("<!DOCTYPE a SYSTEM 'http://127.0.0.1:1/x.dtd'><a/>"), "xml.dtd_forbidden");
}

// Billion laughs: refused before any expansion.
TEST(DocumentTest, RefusesEntityExpansionBombs) {
  std::string bomb = "<!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>";
  std::string prev = "a";
  for (int i = 0; i < 9; ++i) {
    std::string name = "e" + std::to_string(i);
    bomb += "<!ENTITY " + name + " '";
    for (int j = 0; j < 10; ++j) bomb += "&" + prev + ";";
    bomb += "'>";
    prev = name;
  }
  bomb += "]><l>&" + prev + ";</l>";
  EXPECT_EQ(code_of(bomb), "xml.dtd_forbidden");
}

// Size, depth and node-count limits hold.
TEST(DocumentTest, EnforcesLimits) {
  ParseLimits small{64, 4, 10};
  EXPECT_EQ(code_of(std::string(100, ' ') + "<a/>", small), "xml.too_large");
  EXPECT_EQ(code_of("<a><b><c><d><e/></d></c></b></a>", small), "xml.too_deep");
  EXPECT_EQ(code_of("<a><b/><b/><b/><b/><b/><b/><b/><b/><b/><b/></a>", small),
            "xml.too_many_nodes");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<x>";
  for (int i = 0; i < 100; ++i) deep += "</x>";
  EXPECT_EQ(code_of(deep), "xml.too_deep");
}

// Two elements with one ID: fatal, whatever else the document says.
TEST(DocumentTest, RefusesDuplicateIds) {
  EXPECT_EQ(code_of("<a ID='_1'><b ID='_1'/></a>"), "xml.duplicate_id");
  EXPECT_EQ(code_of("<a><b ID='_1'/><c><d ID='_1'/></c></a>"), "xml.duplicate_id");
  // "Id" on ds:Signature is not a SAML ID: two signatures with Id="Signature1" (pysaml2) are fine.
  EXPECT_EQ(code_of("<a Id='Signature1'><b Id='Signature1' ID='_1'/></a>"), "ok");
}

// Broken XML is an error naming the line.
TEST(DocumentTest, ReportsMalformedXml) {
  auto d = Document::parse("<a>\n<b></a>");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().name, "xml.malformed");
  EXPECT_NE(d.error().message.find("line"), std::string::npos);
  EXPECT_EQ(code_of(""), "xml.malformed");
  EXPECT_EQ(code_of(std::string("\xff\xfe<a/>", 6)), "xml.malformed");
}

// Unbound prefixes and other namespace errors: not namespace-well-formed, refused.
TEST(DocumentTest, RefusesNamespaceErrors) {
  EXPECT_EQ(code_of("<a:Root xmlns:b='urn:b'/>"), "xml.malformed");
  EXPECT_EQ(code_of("<Root b:attr='1'/>"), "xml.malformed");
  EXPECT_EQ(code_of("<Root xmlns:a=''/>"), "xml.malformed");
  EXPECT_EQ(code_of("<a:Root xmlns:a='urn:a' a:x='1' a:x='2'/>"), "xml.malformed");
}

// Replacing a subtree (a decrypted assertion) re-indexes IDs: the old ones are gone, the new
// ones resolve, and a new one that repeats an existing ID is refused.
TEST(DocumentTest, ReplaceWithFragmentKeepsIdIndexExact) {
  auto d = Document::parse("<r xmlns:s='urn:s' ID='_r'><s:Enc ID='_enc'><s:inner ID='_in'/></s:Enc></r>");
  ASSERT_TRUE(d.has_value());
  xmlNode* enc = first_element(d->root());
  auto el = d->replace_with_fragment(enc, "<s:Plain ID='_plain'>t</s:Plain>");
  ASSERT_TRUE(el.has_value()) << el.error().message;
  EXPECT_EQ(d->find_id("_enc"), nullptr);
  EXPECT_EQ(d->find_id("_in"), nullptr);
  EXPECT_EQ(d->find_id("_plain"), *el);
  EXPECT_EQ(ns_uri(*el), "urn:s");
  EXPECT_EQ(to_string(d->root()), "<r xmlns:s=\"urn:s\" ID=\"_r\"><s:Plain ID=\"_plain\">t</s:Plain></r>");
  auto dup = d->replace_with_fragment(*el, "<s:Again ID='_r'/>");
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().name, "xml.duplicate_id");
  auto two = Document::parse("<r><e/></r>");
  EXPECT_EQ(two->replace_with_fragment(first_element(two->root()), "<a/><b/>").error().name,
            "encryption.structure");
}

// Text is the whole content of the node, comments included as if absent.
TEST(NodeTest, TextSpansComments) {
  auto d = Document::parse("<a>admin@evil.org<!-- x -->.example.org</a>");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(text(d->root()), "admin@evil.org.example.org");
}

}  // namespace
}  // namespace cg::xml
