#include "xml/c14n.h"

#include <libxml/c14n.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>

#include "xml/errors.h"

namespace cg::xml {
namespace {

struct Visibility {
  xmlNode* root;
  xmlNode* excluded;
};

// A node is visible when it lies inside `root` and outside `excluded`. Namespace nodes are
// judged by the element that carries them; attributes by their element.
int is_visible(void* user, xmlNodePtr node, xmlNodePtr parent) {
  auto* v = static_cast<Visibility*>(user);
  xmlNode* n = (node == nullptr || node->type == XML_NAMESPACE_DECL) ? parent : node;
  for (xmlNode* p = n; p; p = p->parent) {
    if (p == v->excluded) return 0;
    if (p == v->root) return 1;
  }
  return 0;
}

int append(void* ctx, const char* buf, int len) {
  static_cast<std::string*>(ctx)->append(buf, static_cast<size_t>(len));
  return len;
}

}  // namespace

Result<std::string> exc_c14n(xmlNode* subtree, xmlNode* excluded, const std::vector<std::string>& prefixes) {
  std::string out;
  out.reserve(8192);
  xmlOutputBufferPtr buf = xmlOutputBufferCreateIO(append, nullptr, &out, nullptr);
  if (!buf) return fail(Code::kCanonicalization, "could not allocate the canonicalization buffer");
  std::vector<xmlChar*> list;
  for (const auto& p : prefixes) list.push_back(reinterpret_cast<xmlChar*>(const_cast<char*>(p.c_str())));
  list.push_back(nullptr);
  Visibility v{subtree, excluded};
  int rc = xmlC14NExecute(subtree->doc, is_visible, &v, XML_C14N_EXCLUSIVE_1_0,
                          prefixes.empty() ? nullptr : list.data(), 0, buf);
  int closed = xmlOutputBufferClose(buf);
  if (rc < 0 || closed < 0) return fail(Code::kCanonicalization, "exclusive canonicalization failed");
  return out;
}

}  // namespace cg::xml
