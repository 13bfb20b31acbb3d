#include "xml/node.h"

#include <libxml/tree.h>

#include <cstring>

#include "core/encoding.h"

namespace cg::xml {
namespace {
const char* c(const xmlChar* s) { return reinterpret_cast<const char*>(s); }
bool eq(const xmlChar* a, const char* b) { return a && std::strcmp(c(a), b) == 0; }

void append_text(const xmlNode* n, std::string& out) {
  for (const xmlNode* k = n->children; k; k = k->next) {
    if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
      if (k->content) out += c(k->content);
    } else if (k->type == XML_ELEMENT_NODE) {
      append_text(k, out);
    }
  }
}
}  // namespace

bool is_element(const xmlNode* n) { return n && n->type == XML_ELEMENT_NODE; }

bool is(const xmlNode* n, const char* ns, const char* local) {
  return is_element(n) && eq(n->name, local) && n->ns && eq(n->ns->href, ns);
}

std::string_view local_name(const xmlNode* n) { return n && n->name ? c(n->name) : ""; }
std::string_view ns_uri(const xmlNode* n) {
  return n && n->ns && n->ns->href ? c(n->ns->href) : "";
}

xmlNode* first_element(const xmlNode* parent) {
  for (xmlNode* k = parent ? parent->children : nullptr; k; k = k->next)
    if (k->type == XML_ELEMENT_NODE) return k;
  return nullptr;
}

xmlNode* parent_element(const xmlNode* n) {
  return n && n->parent && n->parent->type == XML_ELEMENT_NODE ? n->parent : nullptr;
}

xmlNode* next_element(const xmlNode* n) {
  for (xmlNode* k = n ? n->next : nullptr; k; k = k->next)
    if (k->type == XML_ELEMENT_NODE) return k;
  return nullptr;
}

xmlNode* first_child(const xmlNode* parent, const char* ns, const char* local) {
  for (xmlNode* k = first_element(parent); k; k = next_element(k))
    if (is(k, ns, local)) return k;
  return nullptr;
}

std::vector<xmlNode*> children(const xmlNode* parent, const char* ns, const char* local) {
  std::vector<xmlNode*> out;
  for (xmlNode* k = first_element(parent); k; k = next_element(k))
    if (is(k, ns, local)) out.push_back(k);
  return out;
}

static void collect(const xmlNode* n, const char* ns, const char* local,
                    std::vector<xmlNode*>& out) {
  for (xmlNode* k = first_element(n); k; k = next_element(k)) {
    if (is(k, ns, local)) out.push_back(k);
    collect(k, ns, local, out);
  }
}

std::vector<xmlNode*> descendants(const xmlNode* root, const char* ns, const char* local) {
  std::vector<xmlNode*> out;
  if (is(root, ns, local)) out.push_back(const_cast<xmlNode*>(root));
  if (root) collect(root, ns, local, out);
  return out;
}

std::string attr(const xmlNode* n, const char* name) {
  if (!n) return {};
  for (xmlAttr* a = n->properties; a; a = a->next) {
    if (a->ns == nullptr && eq(a->name, name)) {
      std::string out;
      for (xmlNode* t = a->children; t; t = t->next)
        if (t->content) out += c(t->content);
      return out;
    }
  }
  return {};
}

std::string text(const xmlNode* n) {
  std::string out;
  if (n) append_text(n, out);
  return out;
}

std::string trimmed_text(const xmlNode* n) {
  std::string s = text(n);
  auto ws = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  size_t b = 0, e = s.size();
  while (b < e && ws(s[b])) ++b;
  while (e > b && ws(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string path_of(const xmlNode* n) {
  std::string out;
  for (; n && n->type == XML_ELEMENT_NODE; n = n->parent) out = "/" + std::string(c(n->name)) + out;
  return out;
}

}  // namespace cg::xml

namespace cg::xml {
std::string escape(std::string_view s) { return core::markup_escape(s); }
}  // namespace cg::xml

namespace cg::xml {
Status wrap_in(xmlNode* node, const char* ns, const char* prefix, const char* local) {
  xmlNode* wrapper =
      xmlNewDocNode(node->doc, nullptr, reinterpret_cast<const xmlChar*>(local), nullptr);
  if (!wrapper) return fail(0, "xml.alloc", "out of memory");
  xmlNs* n = xmlNewNs(wrapper, reinterpret_cast<const xmlChar*>(ns),
                      reinterpret_cast<const xmlChar*>(prefix));
  xmlSetNs(wrapper, n);
  xmlReplaceNode(node, wrapper);
  xmlAddChild(wrapper, node);
  return {};
}
}  // namespace cg::xml
