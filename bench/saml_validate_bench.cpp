// Validation of a signed 5 KB Response against the cost of its RSA-2048 verification alone,
// and against the way peer SPs verify (libxml2 parse + xmlsec with a reused keys manager), all
// measured in one run on one core. Prints a summary with the ratios at the end.
//
//   build/bench/bench/saml_validate_bench [--benchmark_min_time=1]
#include <benchmark/benchmark.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include <cstdio>
#include <map>
#include <string>

#include "bench/summary_reporter.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/random.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "saml/response_builder.h"
#include "saml/response_validator.h"
#include "xml/c14n.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace {

using namespace cg;

struct Fixture {
  crypto::PrivateKey key;
  crypto::Certificate cert;
  std::string response;  // ~5 KB, assertion signed, RSA-2048 / SHA-256
  std::string signed_info_c14n;
  std::vector<uint8_t> signature;
  core::ManualClock clock{*core::parse_datetime("2026-06-01T12:00:00Z")};

  Fixture() {
    key = *crypto::PrivateKey::generate_rsa(2048);
    cert = *crypto::Certificate::self_signed(key, "bench idp", clock.now() - std::chrono::hours(1),
                                             30);
    saml::ResponseSpec s;
    s.issuer = "https://idp.example.org/metadata";
    s.destination = s.recipient = "https://ml.example.org/saml/acs";
    s.audience = "https://ml.example.org/saml/metadata";
    s.in_response_to = "_request";
    s.issue_instant = clock.now();
    // 10 attributes, one with 20 group values: 5 KB with the signature and certificate.
    std::vector<std::string> groups;
    for (int i = 0; i < 20; ++i) groups.push_back("ml-team-" + std::to_string(10 + i));
    s.attributes = {{"groups", groups}};
    for (int i = 0; i < 9; ++i)
      s.attributes.push_back({"attr" + std::to_string(i), {"value-" + std::to_string(i)}});
    core::SystemRandom rnd;
    response = saml::build_response(s, key, cert, rnd)->xml;
    auto doc = *xml::Document::parse(response);
    xmlNode* a = xml::first_child(doc.root(), xml::ns::kSaml, "Assertion");
    xmlNode* sig = xml::first_child(a, xml::ns::kDs, "Signature");
    signed_info_c14n =
        *xml::exc_c14n(xml::first_child(sig, xml::ns::kDs, "SignedInfo"), nullptr, {});
    auto sv =
        *core::base64_decode(xml::text(xml::first_child(sig, xml::ns::kDs, "SignatureValue")));
    signature.assign(sv.begin(), sv.end());
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

// The cryptographic floor: one RSA-2048 PKCS#1 v1.5 verify of the canonical SignedInfo.
void BM_RsaVerify2048(benchmark::State& state) {
  auto& f = fx();
  auto pub = f.cert.public_key();
  auto data = std::span(reinterpret_cast<const uint8_t*>(f.signed_info_c14n.data()),
                        f.signed_info_c14n.size());
  for (auto _ : state)
    benchmark::DoNotOptimize(pub.verify(crypto::HashAlg::kSha256, data, f.signature));
}
BENCHMARK(BM_RsaVerify2048);

// The whole claimgate validation: parse, every check, signature, attributes.
void BM_ValidateResponse(benchmark::State& state) {
  auto& f = fx();
  saml::SpSettings sp;
  sp.entity_id = "https://ml.example.org/saml/metadata";
  sp.acs_url = "https://ml.example.org/saml/acs";
  saml::IdpSettings idp{"https://idp.example.org/metadata", {f.cert}, false, false, {}};
  saml::ResponseValidator v(sp, idp, nullptr,
                            f.clock);  // replay cache off: the same message repeats
  std::optional<std::string> req = "_request";
  if (!v.validate(f.response, req).ok())
    state.SkipWithError("the benchmark response does not validate");
  for (auto _ : state) benchmark::DoNotOptimize(v.validate(f.response, req));
  state.counters["bytes"] = static_cast<double>(f.response.size());
}
BENCHMARK(BM_ValidateResponse);

// Parsing alone, for the breakdown.
void BM_ParseOnly(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) benchmark::DoNotOptimize(xml::Document::parse(f.response));
}
BENCHMARK(BM_ParseOnly);

// The peers' path: libxml2 parse + xmlsec1 verify of the assertion signature, keys manager
// loaded once and reused (the best case for xmlsec; SAML rules not included).
void BM_PeerXmlsecVerify(benchmark::State& state) {
  auto& f = fx();
  xml::ensure_initialized();
  xmlSecKeysMngrPtr mngr = xmlSecKeysMngrCreate();
  xmlSecCryptoAppDefaultKeysMngrInit(mngr);
  xmlSecKeyPtr k = xmlSecCryptoAppKeyLoadMemory(
      f.cert.der().data(), static_cast<xmlSecSize>(f.cert.der().size()), xmlSecKeyDataFormatCertDer,
      nullptr, nullptr, nullptr);
  xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, k);
  auto once = [&]() -> bool {
    xmlDocPtr doc = xmlReadMemory(f.response.data(), static_cast<int>(f.response.size()), nullptr,
                                  nullptr, XML_PARSE_NONET);
    xmlNodePtr a = xml::first_child(xmlDocGetRootElement(doc), xml::ns::kSaml, "Assertion");
    xmlAttrPtr id = xmlHasProp(a, reinterpret_cast<const xmlChar*>("ID"));
    xmlChar* idv = xmlNodeListGetString(doc, id->children, 1);
    xmlAddID(nullptr, doc, idv, id);
    xmlFree(idv);
    xmlNodePtr sig = xml::first_child(a, xml::ns::kDs, "Signature");
    xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(mngr);
    bool ok = xmlSecDSigCtxVerify(ctx, sig) == 0 && ctx->status == xmlSecDSigStatusSucceeded;
    xmlSecDSigCtxDestroy(ctx);
    xmlFreeDoc(doc);
    return ok;
  };
  if (!once()) state.SkipWithError("xmlsec did not verify the benchmark response");
  for (auto _ : state) benchmark::DoNotOptimize(once());
  xmlSecKeysMngrDestroy(mngr);
}
BENCHMARK(BM_PeerXmlsecVerify);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cg::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  // CPU time of the one benchmark thread: on a shared machine, wall time counts waits for a core.
  auto get = [&](const char* n) { return rep.cpu_ns(n); };
  double rsa = get("BM_RsaVerify2048"), val = get("BM_ValidateResponse"),
         peer = get("BM_PeerXmlsecVerify"), parse = get("BM_ParseOnly");
  if (rsa > 0 && val > 0) {
    std::printf(
        "\nSummary (one core, CPU time, %zu-byte Response, RSA-2048/SHA-256, 10 attributes, 20 "
        "groups):\n",
        fx().response.size());
    std::printf("  bare RSA-2048 verify      %9.1f us  %9.0f /s\n", rsa / 1e3, 1e9 / rsa);
    std::printf(
        "  claimgate validation      %9.1f us  %9.0f /s   = %.2fx the bare verify (target <= 3x)\n",
        val / 1e3, 1e9 / val, val / rsa);
    if (parse > 0) std::printf("    of which XML parsing    %9.1f us\n", parse / 1e3);
    if (peer > 0)
      std::printf(
          "  peer: libxml2 + xmlsec    %9.1f us  %9.0f /s   = %.2fx the bare verify; claimgate is "
          "%.1fx faster\n",
          peer / 1e3, 1e9 / peer, peer / rsa, peer / val);
  }
  benchmark::Shutdown();
  return 0;
}
