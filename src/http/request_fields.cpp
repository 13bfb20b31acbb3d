#include "http/request_fields.h"

#include <string>
#include <vector>

namespace cg::http {
namespace {

template <class Pred>
void erase_if_name(bhttp::fields& fields, Pred pred) {
  for (auto it = fields.begin(); it != fields.end();) {
    std::string_view name(it->name_string().data(), it->name_string().size());
    if (pred(name)) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

void drop_underscore_fields(bhttp::fields& fields) {
  erase_if_name(fields, [](std::string_view n) { return n.find('_') != std::string_view::npos; });
}

void strip_client_headers(bhttp::fields& fields, std::string_view identity_prefix) {
  erase_if_name(fields, [&](std::string_view n) {
    return n.find('_') != std::string_view::npos || is_client_identity_header(n, identity_prefix);
  });
}

void reframe(bhttp::fields& fields, bool chunked, std::optional<uint64_t> content_length) {
  fields.erase(bhttp::field::content_length);
  fields.erase(bhttp::field::transfer_encoding);
  if (chunked) {
    fields.set(bhttp::field::transfer_encoding, "chunked");
  } else if (content_length) {
    fields.set(bhttp::field::content_length, std::to_string(*content_length));
  }
}

size_t count_fields(const bhttp::fields& fields) {
  size_t n = 0;
  for (auto it = fields.begin(); it != fields.end(); ++it) ++n;
  return n;
}

void drop_trailer_fields(bhttp::fields& fields, size_t head_fields) {
  auto it = fields.begin();
  for (size_t i = 0; i < head_fields && it != fields.end(); ++i) ++it;
  while (it != fields.end()) it = fields.erase(it);
}

}  // namespace cg::http
