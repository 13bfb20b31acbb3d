// Small, allocation-free helpers for walking libxml2 trees by namespace and local name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

bool is(const xmlNode* n, const char* ns, const char* local);
bool is_element(const xmlNode* n);
std::string_view local_name(const xmlNode* n);
std::string_view ns_uri(const xmlNode* n);

xmlNode* first_child(const xmlNode* parent, const char* ns, const char* local);
xmlNode* first_element(const xmlNode* parent);
// The parent when it is an element (not the document node), else null.
xmlNode* parent_element(const xmlNode* n);
xmlNode* next_element(const xmlNode* n);
std::vector<xmlNode*> children(const xmlNode* parent, const char* ns, const char* local);
// Every element in the subtree (including `root`) with this name, in document order.
std::vector<xmlNode*> descendants(const xmlNode* root, const char* ns, const char* local);

// The value of a no-namespace attribute, or "" if absent.
std::string attr(const xmlNode* n, const char* name);
// The whole text content of the node: every text and CDATA descendant concatenated, so a
// comment placed inside cannot truncate the value.
std::string text(const xmlNode* n);
// text() with leading and trailing XML whitespace removed.
std::string trimmed_text(const xmlNode* n);
// A short path for messages: "/Response/Assertion[1]/Subject".
std::string path_of(const xmlNode* n);

}  // namespace cg::xml

namespace cg::xml {
// Escapes text for use in XML content and double-quoted attribute values.
std::string escape(std::string_view s);
// Puts `node` inside a new element {ns}local (prefix bound to ns), in its place in the tree.
Status wrap_in(xmlNode* node, const char* ns, const char* prefix, const char* local);
}  // namespace cg::xml
