#include "xml/document.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmlsec.h>

#include <cstring>
#include <mutex>

#include "core/encoding.h"
#include "xml/errors.h"

namespace cg::xml {
namespace {

// Parser options: no network, no entity substitution (XML_PARSE_NOENT is deliberately absent),
// no DTD loading or default attributes, errors collected rather than printed.
constexpr int kParseOptions =
    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_COMPACT;

// No external resource is ever loaded: not by the parser, not by xmlsec.
xmlParserInputPtr deny_external(const char*, const char*, xmlParserCtxtPtr) { return nullptr; }

void silent_errors(void*, xmlErrorPtr) {}

thread_local std::string last_xmlsec_error;
bool g_xmlsec_ready = false;  // written once, under the call_once in ensure_initialized

// xmlsec's errors are kept for our own messages (per thread), never printed.
void keep_xmlsec_error(const char*, int, const char* func, const char*, const char*, int,
                       const char* msg) {
  last_xmlsec_error = std::string(func ? func : "xmlsec") + ": " + (msg ? msg : "error");
}
void silent_generic(void*, const char*, ...) {}

struct StopOnDtd {
  bool saw_dtd = false;
};

// SAX hook: the parser reached <!DOCTYPE ...>. Stop before the internal subset (entity
// declarations, billion laughs) is even read.
void on_internal_subset(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  static_cast<StopOnDtd*>(ctxt->_private)->saw_dtd = true;
  xmlStopParser(ctxt);
}

std::string last_error(xmlParserCtxtPtr ctxt) {
  const xmlError* e = xmlCtxtGetLastError(ctxt);
  if (!e || !e->message) return "not well-formed";
  std::string m = e->message;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m + " (line " + std::to_string(e->line) + ")";
}

// The name dictionary of a reused parser context grows only with names it has not seen; past
// this many it is dropped with its context.
constexpr size_t kMaxDictNames = 20000;

struct ParserSlot {
  xmlParserCtxtPtr ctxt = nullptr;
  ParserSlot() { make(); }
  ~ParserSlot() {
    if (ctxt) xmlFreeParserCtxt(ctxt);
  }
  ParserSlot(const ParserSlot&) = delete;
  ParserSlot& operator=(const ParserSlot&) = delete;
  void make() {
    ctxt = xmlNewParserCtxt();
    if (!ctxt) return;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->externalSubset = nullptr;
  }
  // Keeps no document alive past the parse, and the dictionary bounded.
  void release_if_large() {
    if (ctxt->myDoc) {
      xmlFreeDoc(ctxt->myDoc);
      ctxt->myDoc = nullptr;
    }
    if (ctxt->dict && static_cast<size_t>(xmlDictSize(ctxt->dict)) > kMaxDictNames) {
      xmlFreeParserCtxt(ctxt);
      make();
    }
  }
};

ParserSlot& parser_slot() {
  thread_local ParserSlot slot;
  return slot;
}

struct Walk {
  const ParseLimits& limits;
  size_t nodes = 0;
  std::unordered_map<std::string, xmlNode*>* ids;
};

Status walk(xmlNode* n, int depth, Walk& w) {
  for (; n; n = n->next) {
    if (++w.nodes > w.limits.max_nodes)
      return fail(Code::kTooManyNodes,
                  "the document has more than " + std::to_string(w.limits.max_nodes) + " nodes");
    if (n->type == XML_DTD_NODE || n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_DECL)
      return fail(Code::kDtdForbidden, "entity references and DTDs are not accepted");
    if (n->type != XML_ELEMENT_NODE) continue;
    // libxml2 keeps "p:name" as the local name when prefix p is unbound (a recoverable error):
    // such a document is not namespace-well-formed and is refused, here and in fragments.
    if (std::strchr(reinterpret_cast<const char*>(n->name), ':'))
      return fail(Code::kMalformed,
                  "the prefix of <" +
                      std::string(reinterpret_cast<const char*>(n->name)).substr(0, 80) +
                      "> is not bound to a namespace");
    if (depth > w.limits.max_depth)
      return fail(Code::kTooDeep, "elements are nested deeper than " +
                                      std::to_string(w.limits.max_depth) + " levels");
    for (xmlAttr* a = n->properties; a; a = a->next) {
      ++w.nodes;
      if (std::strchr(reinterpret_cast<const char*>(a->name), ':'))
        return fail(Code::kMalformed,
                    "the prefix of attribute " +
                        std::string(reinterpret_cast<const char*>(a->name)).substr(0, 80) +
                        " is not bound to a namespace");
      // SAML elements carry "ID"; the "Id" of ds:Signature / xenc:EncryptedData is never resolved
      // (pysaml2, for one, gives every signature Id="Signature1").
      if (a->ns == nullptr && a->name &&
          std::strcmp(reinterpret_cast<const char*>(a->name), "ID") == 0) {
        std::string v;
        for (xmlNode* t = a->children; t; t = t->next)
          if (t->content) v += reinterpret_cast<const char*>(t->content);
        auto [it, fresh] = w.ids->emplace(v, n);
        if (!fresh) {
          return fail(Code::kDuplicateId,
                      "the ID '" + v.substr(0, 80) +
                          "' appears on more than one element (a signature-wrapping attempt, "
                          "or a broken IdP)");
        }
      }
    }
    CG_CHECK(walk(n->children, depth + 1, w));
  }
  return {};
}

}  // namespace

void ensure_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSetExternalEntityLoader(deny_external);
    xmlSetStructuredErrorFunc(nullptr, silent_errors);
    xmlSetGenericErrorFunc(nullptr, silent_generic);
    // Verification does not need xmlsec (OpenSSL and our c14n do it); signing and decryption
    // check xmlsec_ready() and say so if it failed.
    g_xmlsec_ready =
        xmlSecInit() >= 0 && xmlSecCryptoAppInit(nullptr) >= 0 && xmlSecCryptoInit() >= 0;
    xmlSecErrorsSetCallback(keep_xmlsec_error);  // after xmlSecInit, which resets it
  });
}

bool xmlsec_ready() {
  ensure_initialized();
  return g_xmlsec_ready;
}

std::string take_xmlsec_error() {
  std::string e = std::move(last_xmlsec_error);
  last_xmlsec_error.clear();
  return e;
}

void Document::DocFree::operator()(xmlDoc* d) const { xmlFreeDoc(d); }

xmlNode* Document::root() const { return doc_ ? xmlDocGetRootElement(doc_.get()) : nullptr; }

Result<Document> Document::parse(std::string_view bytes, const ParseLimits& limits) {
  ensure_initialized();
  if (bytes.size() > limits.max_bytes) {
    return fail(Code::kTooLarge, "the document is " + std::to_string(bytes.size()) +
                                     " bytes; the limit is " + std::to_string(limits.max_bytes));
  }
  // One parser context per thread, reset for each document: its set-up (SAX handler, input and
  // node stacks, the name dictionary) is not repeated per message, and names already seen are
  // found in the dictionary rather than added. The dictionary only grows with names never seen
  // before, so a context whose dictionary passed kMaxDictNames is replaced (memory stays bounded
  // whatever names arrive). Documents keep a reference to the dictionary they were built with.
  ParserSlot& slot = parser_slot();
  if (!slot.ctxt) return fail(Code::kMalformed, "the XML parser could not start");
  xmlParserCtxtPtr ctxt = slot.ctxt;
  StopOnDtd stop;
  ctxt->_private = &stop;
  xmlDocPtr parsed = xmlCtxtReadMemory(ctxt, bytes.data(), static_cast<int>(bytes.size()), nullptr,
                                       nullptr, kParseOptions);
  ctxt->_private = nullptr;
  Document d;
  d.doc_.reset(parsed);
  bool well_formed = parsed && ctxt->wellFormed != 0 && ctxt->nsWellFormed != 0;
  std::string err = well_formed ? "" : last_error(ctxt);
  slot.release_if_large();
  if (stop.saw_dtd)
    return fail(Code::kDtdForbidden,
                "the document declares a DTD (<!DOCTYPE>); SAML messages never do");
  if (!well_formed || !d.doc_) return fail(Code::kMalformed, "the XML is not well-formed: " + err);
  if (d.doc_->intSubset || d.doc_->extSubset)
    return fail(Code::kDtdForbidden,
                "the document declares a DTD (<!DOCTYPE>); SAML messages never do");
  if (!d.root()) return fail(Code::kMalformed, "the document has no root element");
  Walk w{limits, 0, &d.ids_};
  CG_CHECK(walk(d.doc_->children, 1, w));
  return d;
}

xmlNode* Document::find_id(std::string_view id) const {
  auto it = ids_.find(std::string(id));
  return it == ids_.end() ? nullptr : it->second;
}

Result<xmlNode*> Document::replace_with_fragment(xmlNode* context, std::string_view bytes,
                                                 const ParseLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    return fail(Code::kTooLarge, "decrypted content exceeds the size limit");
  xmlNode* list = nullptr;
  xmlParserErrors rc = xmlParseInNodeContext(context, bytes.data(), static_cast<int>(bytes.size()),
                                             kParseOptions, &list);
  if (rc != XML_ERR_OK || !list) {
    if (list) xmlFreeNodeList(list);
    return fail(Code::kMalformed, "the decrypted content is not well-formed XML (libxml2 error " +
                                      std::to_string(static_cast<int>(rc)) + ")");
  }
  xmlNode* element = nullptr;
  int elements = 0;
  for (xmlNode* n = list; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE) {
      element = n;
      ++elements;
    } else if (n->type != XML_TEXT_NODE && n->type != XML_COMMENT_NODE) {
      elements = 2;  // entity references, PIs: not what an encrypted assertion holds
    }
  }
  if (elements != 1) {
    xmlFreeNodeList(list);
    return fail(Code::kEncryptionStructure, "the decrypted content is not exactly one element");
  }
  std::unordered_map<std::string, xmlNode*> scratch;
  Walk w{limits, 0, &scratch};
  auto st = walk(list, 1, w);
  if (!st) {
    xmlFreeNodeList(list);
    return fail(st.take_error());
  }
  // Detach the element from the rest of the list (whitespace, comments) and free those.
  for (xmlNode* n = list; n;) {
    xmlNode* next = n->next;
    if (n != element) {
      xmlUnlinkNode(n);
      xmlFreeNode(n);
    }
    n = next;
  }
  element->prev = element->next = nullptr;
  element->parent = nullptr;
  // Names in the fragment may resolve to declarations on `context`, which is about to be freed:
  // move those declarations onto the element (same prefixes, same URIs, so canonical forms and
  // signatures are unchanged).
  xmlNs** tail = &element->nsDef;
  while (*tail) tail = &(*tail)->next;
  xmlNs* kept = nullptr;
  for (xmlNs* n = context->nsDef; n;) {
    xmlNs* next = n->next;
    n->next = nullptr;
    bool shadowed = false;
    for (xmlNs* own = element->nsDef; own && own != n; own = own->next)
      shadowed = shadowed || xmlStrEqual(own->prefix, n->prefix);
    if (shadowed) {
      n->next = kept;
      kept = n;
    } else {
      *tail = n;
      tail = &n->next;
    }
    n = next;
  }
  context->nsDef = kept;
  xmlReplaceNode(context, element);
  // Forget the IDs of the subtree being freed, so that the index never holds a dangling node.
  for (auto it = ids_.begin(); it != ids_.end();) {
    bool inside = false;
    for (xmlNode* p = it->second; p && !inside; p = p->parent) inside = p == context;
    it = inside ? ids_.erase(it) : std::next(it);
  }
  xmlFreeNode(context);
  // The fragment's IDs were collected by the limits walk above; add them, a repeat being fatal.
  for (auto& [id, node] : scratch)
    if (!ids_.emplace(id, node).second)
      return fail(Code::kDuplicateId, "the ID '" + core::clip(id, 80) +
                                          "' appears on more than one element (a signature-"
                                          "wrapping attempt, or a broken IdP)");
  return element;
}

std::string to_string(xmlNode* node, bool pretty) {
  xmlBufferPtr buf = xmlBufferCreate();
  xmlNodeDump(buf, node->doc, node, 0, pretty ? 1 : 0);
  std::string out(reinterpret_cast<const char*>(xmlBufferContent(buf)),
                  static_cast<size_t>(xmlBufferLength(buf)));
  xmlBufferFree(buf);
  return out;
}

}  // namespace cg::xml
