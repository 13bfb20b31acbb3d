// Differential libFuzzer target: the direct exclusive c14n must equal libxml2's for every element
// of any document the hardened parser accepts. A difference aborts (a signature could otherwise
// digest different bytes than a standard verifier would).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "xml/c14n.h"
#include "xml/document.h"
#include "xml/node.h"

namespace {

int visit(xmlNode* n, int budget) {
  for (; n && budget > 0; n = cg::xml::next_element(n)) {
    --budget;
    xmlNode* excluded = cg::xml::first_element(n);
    for (const std::vector<std::string>& prefixes :
         {std::vector<std::string>{}, {"#default", "a", "b"}}) {
      auto fast = cg::xml::exc_c14n(n, excluded, prefixes);
      auto ref = cg::xml::exc_c14n_reference(n, excluded, prefixes);
      if (fast.has_value() && ref.has_value() && *fast != *ref) {
        std::fprintf(stderr, "c14n mismatch\nfast: %s\nref:  %s\n", fast->c_str(), ref->c_str());
        std::abort();
      }
    }
    budget = visit(cg::xml::first_element(n), budget);
  }
  return budget;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = cg::xml::Document::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (doc) visit(doc->root(), 64);
  return 0;
}
