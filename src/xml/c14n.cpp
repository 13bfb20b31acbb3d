#include "xml/c14n.h"

#include <libxml/c14n.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "xml/errors.h"

namespace cg::xml {
namespace {

std::string_view sv(const xmlChar* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

// Which bytes c14n escapes (section 2.3): bit 1 in text nodes (& < > CR), bit 2 in attribute
// values (& < " TAB LF CR).
constexpr unsigned char kText = 1, kAttr = 2;
constexpr std::array<unsigned char, 256> make_escapes() {
  std::array<unsigned char, 256> t{};
  t['&'] = t['<'] = t['\r'] = kText | kAttr;
  t['>'] = kText;
  t['"'] = t['\t'] = t['\n'] = kAttr;
  return t;
}
constexpr auto kEscapes = make_escapes();

const char* replacement(char ch) {
  switch (ch) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\t':
      return "&#x9;";
    case '\n':
      return "&#xA;";
    case '\r':
      return "&#xD;";
    default:
      return "";
  }
}

// Appends `s`, replacing the characters of class `which`; runs without them are copied whole.
void append_escaped(std::string& out, std::string_view s, unsigned char which) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!(kEscapes[static_cast<unsigned char>(s[i])] & which)) continue;
    out.append(s.data() + run, i - run);
    out += replacement(s[i]);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

void escape_text(std::string& out, std::string_view s) { append_escaped(out, s, kText); }
void escape_attr(std::string& out, std::string_view s) { append_escaped(out, s, kAttr); }

void qname(std::string& out, const xmlNs* ns, const xmlChar* name) {
  if (ns && ns->prefix) {
    out += sv(ns->prefix);
    out += ':';
  }
  out += sv(name);
}

struct NsDecl {
  std::string_view prefix;  // "" is the default namespace
  std::string_view href;
};

class Writer {
 public:
  Writer(xmlNode* excluded, const std::vector<std::string>& inclusive, std::string& out)
      : excluded_(excluded), inclusive_(inclusive), out_(out) {}

  void element(xmlNode* e) {
    size_t mark = rendered_.size();
    todo_.clear();
    // Exclusive c14n renders the namespaces an element visibly uses (its own prefix, or the
    // default, and its attributes' prefixes), plus the InclusiveNamespaces ones in scope, unless
    // the nearest output ancestor already rendered the same binding.
    need(e->ns ? sv(e->ns->prefix) : std::string_view(),
         e->ns ? sv(e->ns->href) : std::string_view());
    for (xmlAttr* a = e->properties; a; a = a->next)
      if (a->ns && a->ns->prefix) need(sv(a->ns->prefix), sv(a->ns->href));
    for (const auto& p : inclusive_) {
      bool is_default = p == "#default";
      xmlNs* ns = xmlSearchNs(e->doc, e,
                              is_default ? nullptr : reinterpret_cast<const xmlChar*>(p.c_str()));
      if (ns) need(is_default ? std::string_view() : sv(ns->prefix), sv(ns->href));
    }
    std::sort(todo_.begin(), todo_.end(),
              [](const NsDecl& a, const NsDecl& b) { return a.prefix < b.prefix; });

    out_ += '<';
    qname(out_, e->ns, e->name);
    for (const auto& d : todo_) {
      out_ += d.prefix.empty() ? " xmlns" : " xmlns:";
      out_ += d.prefix;
      out_ += "=\"";
      escape_attr(out_, d.href);
      out_ += '"';
      rendered_.push_back(d);
    }
    // Attributes sorted by namespace URI (none first), then local name.
    attrs_.clear();
    for (xmlAttr* a = e->properties; a; a = a->next) attrs_.push_back(a);
    std::sort(attrs_.begin(), attrs_.end(), [](const xmlAttr* a, const xmlAttr* b) {
      std::string_view ua = a->ns ? sv(a->ns->href) : std::string_view();
      std::string_view ub = b->ns ? sv(b->ns->href) : std::string_view();
      return ua != ub ? ua < ub : sv(a->name) < sv(b->name);
    });
    for (xmlAttr* a : attrs_) {  // consumed before children() reuses attrs_ and todo_
      out_ += ' ';
      qname(out_, a->ns, a->name);
      out_ += "=\"";
      for (xmlNode* t = a->children; t; t = t->next)
        if (t->content) escape_attr(out_, sv(t->content));
      out_ += '"';
    }
    out_ += '>';
    children(e);
    out_ += "</";
    qname(out_, e->ns, e->name);
    out_ += '>';
    rendered_.resize(mark);
  }

 private:
  void need(std::string_view prefix, std::string_view href) {
    if (prefix == "xml") return;  // the xml namespace is never declared
    for (const auto& t : todo_)
      if (t.prefix == prefix) return;
    const std::string_view* have = nullptr;
    for (auto it = rendered_.rbegin(); it != rendered_.rend() && !have; ++it)
      if (it->prefix == prefix) have = &it->href;
    // Nothing rendered yet means: no default namespace, no binding for a prefix.
    if (have ? *have == href : (prefix.empty() && href.empty())) return;
    todo_.push_back({prefix, href});
  }

  void children(xmlNode* e) {
    for (xmlNode* k = e->children; k; k = k->next) {
      if (k == excluded_) continue;
      switch (k->type) {
        case XML_ELEMENT_NODE:
          element(k);
          break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
          if (k->content) escape_text(out_, sv(k->content));
          break;
        case XML_PI_NODE:
          out_ += "<?";
          out_ += sv(k->name);
          if (k->content && *k->content) {
            out_ += ' ';
            out_ += sv(k->content);
          }
          out_ += "?>";
          break;
        default:  // comments are left out; DTDs and entity references never get this far
          break;
      }
    }
  }

  xmlNode* excluded_;
  const std::vector<std::string>& inclusive_;
  std::string& out_;
  std::vector<NsDecl> rendered_;  // bindings rendered by output ancestors, innermost last
  std::vector<NsDecl> todo_;
  std::vector<xmlAttr*> attrs_;
};

struct Visibility {
  xmlNode* root;
  xmlNode* excluded;
};

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

Result<std::string> exc_c14n(xmlNode* subtree, xmlNode* excluded,
                             const std::vector<std::string>& prefixes) {
  if (!subtree || subtree->type != XML_ELEMENT_NODE)
    return fail(Code::kCanonicalization, "nothing to canonicalize");
  std::string out;
  out.reserve(8192);
  Writer(excluded, prefixes, out).element(subtree);
  return out;
}

Result<std::string> exc_c14n_reference(xmlNode* subtree, xmlNode* excluded,
                                       const std::vector<std::string>& prefixes) {
  std::string out;
  xmlOutputBufferPtr buf = xmlOutputBufferCreateIO(append, nullptr, &out, nullptr);
  if (!buf) return fail(Code::kCanonicalization, "could not allocate the canonicalization buffer");
  std::vector<xmlChar*> list;
  for (const auto& p : prefixes)
    list.push_back(reinterpret_cast<xmlChar*>(const_cast<char*>(p.c_str())));
  list.push_back(nullptr);
  Visibility v{subtree, excluded};
  int rc = xmlC14NExecute(subtree->doc, is_visible, &v, XML_C14N_EXCLUSIVE_1_0,
                          prefixes.empty() ? nullptr : list.data(), 0, buf);
  int closed = xmlOutputBufferClose(buf);
  if (rc < 0 || closed < 0)
    return fail(Code::kCanonicalization, "exclusive canonicalization failed");
  return out;
}

}  // namespace cg::xml
