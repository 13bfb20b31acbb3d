#include "saml/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/encoding.h"
#include "saml/sp_metadata.h"
#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {
namespace {

// The same metadata under another entity id (a second IdP).
std::string replace_once_entity(const std::string& md) {
  return testing::replace_once(md, "entityID=\"https://idp\"", "entityID=\"https://idp2\"");
}

class SamlConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/cg-config-" + std::to_string(::getpid());
    ::mkdir(dir_.c_str(), 0700);
    write("sp.key", testing::sp_keys().key.to_pem());
    write("sp.crt", testing::sp_keys().cert.to_pem());
    write("next.key", testing::idp_next_keys().key.to_pem());
    write("next.crt", testing::idp_next_keys().cert.to_pem());
    write("idp.xml", testing::idp_metadata_xml());
  }
  void write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(core::write_file(dir_ + "/" + name, data).has_value());
  }
  std::optional<SamlConfig> compile(const std::string& yaml, core::Problems& p) {
    return compile_saml_config(YAML::Load(yaml), dir_, testing::test_now(), p);
  }
  std::string dir_;
};

// A complete config compiles; URLs derive from public_url; a rollover pair is loaded.
TEST_F(SamlConfigTest, CompilesValidConfig) {
  core::Problems p;
  auto c = compile(
      "public_url: https://ml.example.org/\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt, next_signing_key: next.key, "
      "next_signing_cert: next.crt, affiliation_id: https://ml.example.org/affiliation}\n"
      "  clock_skew: 60s\n  idps:\n    - {name: corp, metadata_file: idp.xml, allow_idp_initiated: "
      "true}\n",
      p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->sp.entity_id, "https://ml.example.org/saml/metadata");
  EXPECT_EQ(c->sp.acs_url, "https://ml.example.org/saml/acs");
  EXPECT_EQ(c->clock_skew, std::chrono::seconds(60));
  ASSERT_TRUE(c->sp.next.has_value());
  EXPECT_EQ(c->find_idp("corp")->metadata.entity_id, "https://idp");
  EXPECT_TRUE(c->idp_settings(*c->find_idp("https://idp")).allow_unsolicited);
  EXPECT_EQ(c->sp_settings(c->idps.front()).decryption_keys.size(), 2u);
  EXPECT_EQ(c->sp_settings(c->idps.front()).affiliation_id, "https://ml.example.org/affiliation");
}

// allow_tripledes is per IdP: only the IdP that sets it may encrypt with 3DES.
TEST_F(SamlConfigTest, AllowTripleDesIsPerIdp) {
  write("idp2.xml", replace_once_entity(testing::idp_metadata_xml()));
  core::Problems p;
  auto c = compile(
      "public_url: https://ml.example.org\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
      "  idps:\n    - {name: satosa, metadata_file: idp.xml, allow_tripledes: true}\n"
      "    - {name: corp, metadata_file: idp2.xml}\n",
      p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_TRUE(c->idp_settings(*c->find_idp("satosa")).allow_tripledes);
  EXPECT_EQ(c->sp_settings(c->idps.front()).affiliation_id, "");
  EXPECT_FALSE(c->idp_settings(*c->find_idp("corp")).allow_tripledes);
  core::Problems bad;
  compile(
      "public_url: https://ml.example.org\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
      "  idps:\n    - {name: satosa, metadata_file: idp.xml, allow_tripledes: maybe}\n",
      bad);
  EXPECT_NE(bad.to_string().find("allow_tripledes"), std::string::npos) << bad.to_string();
}

// Every problem at once: unknown keys, missing files, a key that is not the certificate's,
// a bad duration, metadata that does not parse.
TEST_F(SamlConfigTest, ReportsEveryProblem) {
  write("broken.xml", "<md:EntityDescriptor");
  core::Problems p;
  auto c = compile(
      "public_url: ftp://x\n"
      "saml:\n  sp: {signing_key: next.key, signing_cert: sp.crt, colour: blue}\n"
      "  clock_skew: soon\n  idps:\n    - {name: a, metadata_file: missing.xml}\n"
      "    - {name: b, metadata_file: broken.xml}\n",
      p);
  EXPECT_FALSE(c.has_value());
  std::string all = p.to_string();
  for (const char* expect :
       {"public_url: found 'ftp://x'", "saml.sp.colour", "saml.sp.signing_key: found 'next.key'",
        "saml.clock_skew: found 'soon'", "saml.idps[0].metadata_file: found 'missing.xml'",
        "saml.idps[1].metadata_file: found 'broken.xml'"})
    EXPECT_NE(all.find(expect), std::string::npos) << expect << "\n" << all;
  EXPECT_EQ(p.list().size(), 6u) << all;
}

// Who the user is: user_id (default [nameid]) and attribute_map, each problem named.
TEST_F(SamlConfigTest, UserIdAndAttributeMap) {
  core::Problems p;
  auto c = compile(
      "public_url: https://ml.example.org/\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n  idps:\n"
      "    - {name: corp, metadata_file: idp.xml}\n"
      "    - name: shib\n      metadata_file: idp.xml\n"
      "      user_id: [eduPersonPrincipalName, uid, nameid]\n"
      "      attribute_map: {memberOf: groups, 'urn:oid:0.9.2342.19200300.100.1.1': uid}\n",
      p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  EXPECT_EQ(c->find_idp("corp")->user_id, std::vector<std::string>{"nameid"});
  EXPECT_TRUE(c->find_idp("corp")->attribute_map.empty());
  const IdpConfig* shib = c->find_idp("shib");
  EXPECT_EQ(shib->user_id, (std::vector<std::string>{"eduPersonPrincipalName", "uid", "nameid"}));
  ASSERT_EQ(shib->attribute_map.size(), 2u);
  EXPECT_EQ(shib->attribute_map[0], (std::pair<std::string, std::string>{"memberOf", "groups"}));
  EXPECT_EQ(shib->attribute_map[1].second, "uid");

  core::Problems bad;
  EXPECT_FALSE(compile("public_url: https://ml.example.org/\n"
                       "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n  idps:\n"
                       "    - {name: a, metadata_file: idp.xml, user_id: []}\n"
                       "    - {name: b, metadata_file: idp.xml, user_id: uid}\n"
                       "    - {name: c, metadata_file: idp.xml, user_id: [uid, uid]}\n"
                       "    - {name: d, metadata_file: idp.xml, attribute_map: [memberOf]}\n"
                       "    - {name: e, metadata_file: idp.xml, attribute_map: {mail: nameid, "
                       "x: ''}}\n",
                       bad)
                   .has_value());
  std::string all = bad.to_string();
  for (const char* expect :
       {"saml.idps[0].user_id", "saml.idps[1].user_id", "saml.idps[2].user_id: found 'uid'",
        "each source once", "saml.idps[3].attribute_map", "saml.idps[4].attribute_map.mail",
        "saml.idps[4].attribute_map.x"})
    EXPECT_NE(all.find(expect), std::string::npos) << expect << "\n" << all;
  EXPECT_EQ(bad.list().size(), 6u) << all;
}

// Our metadata publishes both certificates during a rollover, for signing and encryption.
TEST_F(SamlConfigTest, SpMetadataPublishesCurrentAndNext) {
  core::Problems p;
  auto c = compile(
      "public_url: https://ml.example.org\n"
      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt, next_signing_key: next.key, "
      "next_signing_cert: next.crt}\n"
      "  idps: [{name: corp, metadata_file: idp.xml}]\n",
      p);
  ASSERT_TRUE(c.has_value()) << p.to_string();
  auto doc = xml::Document::parse(sp_metadata_xml(c->sp));
  ASSERT_TRUE(doc.has_value());
  xmlNode* sso = xml::first_child(doc->root(), xml::ns::kMd, "SPSSODescriptor");
  auto kds = xml::children(sso, xml::ns::kMd, "KeyDescriptor");
  ASSERT_EQ(kds.size(), 4u);
  EXPECT_EQ(xml::attr(sso, "AuthnRequestsSigned"), "true");
  EXPECT_EQ(xml::attr(xml::first_child(sso, xml::ns::kMd, "AssertionConsumerService"), "Location"),
            "https://ml.example.org/saml/acs");
}

}  // namespace
}  // namespace cg::saml
