// A parsed XML document, hardened: no network, no DTD, no entity substitution, size, depth and
// node-count limits, and an index of ID attributes in which a duplicate is fatal.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

typedef struct _xmlDoc xmlDoc;
typedef struct _xmlNode xmlNode;

namespace cg::xml {

// Initialises libxml2 and xmlsec (OpenSSL backend) once per process; any thread may call it.
void ensure_initialized();

// Whether xmlsec (with its OpenSSL backend) initialised; signing and decryption need it.
bool xmlsec_ready();
// The last error xmlsec reported on this thread ("function: message"), then cleared; "" if none.
std::string take_xmlsec_error();

struct ParseLimits {
  size_t max_bytes = 1 << 20;  // 1 MiB: a Response with hundreds of groups is ~100 KB
  int max_depth = 48;          // SAML nests ~8 levels; XSW payloads and bombs go deeper
  size_t max_nodes = 50000;    // elements, attributes and text nodes together
};

class Document {
 public:
  Document() = default;
  Document(Document&&) noexcept = default;
  Document& operator=(Document&&) noexcept = default;

  static Result<Document> parse(std::string_view bytes, const ParseLimits& limits = {});

  xmlDoc* get() const { return doc_.get(); }
  xmlNode* root() const;

  // The element whose ID attribute (SAML's "ID") equals `id`, or null.
  xmlNode* find_id(std::string_view id) const;
  // Parses `bytes` as a single element in the namespace context of `old` (decrypted content),
  // with the same hardening and limits, puts it in place of `old` (freed) and indexes its IDs
  // (dropping those of `old`).
  Result<xmlNode*> replace_with_fragment(xmlNode* old, std::string_view bytes,
                                         const ParseLimits& limits = {});

 private:
  struct DocFree {
    void operator()(xmlDoc* d) const;
  };
  std::unique_ptr<xmlDoc, DocFree> doc_;
  std::unordered_map<std::string, xmlNode*> ids_;
};

// Serialises a node (or the whole document when `node` is the root) as UTF-8 XML.
std::string to_string(xmlNode* node, bool pretty = false);

}  // namespace cg::xml
