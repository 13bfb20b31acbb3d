#include "core/trace_context.h"

#include <vector>

namespace cg::core {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

bool lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool key_char(char c) {
  return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / multi-tenant-key
// simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// multi-tenant-key = tenant-id "@" system-id
// tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
bool valid_key(std::string_view k) {
  size_t at = k.find('@');
  auto rest_ok = [](std::string_view s) {
    for (char c : s) {
      if (!key_char(c)) return false;
    }
    return true;
  };
  if (at == std::string_view::npos) {
    return !k.empty() && k.size() <= 256 && lcalpha(k[0]) && rest_ok(k.substr(1));
  }
  std::string_view tenant = k.substr(0, at), system = k.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 && (lcalpha(tenant[0]) || digit(tenant[0])) &&
         rest_ok(tenant.substr(1)) && !system.empty() && system.size() <= 14 &&
         lcalpha(system[0]) && rest_ok(system.substr(1));
}

// value = 0*255(chr) nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; chr = %x20 / nblk-chr
bool valid_value(std::string_view v) {
  if (v.empty() || v.size() > 256 || v.back() == ' ') return false;
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || u == ',' || u == '=') return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string random_hex_id(Random& random, size_t bytes) {
  uint8_t buf[16];
  std::string out;
  do {
    random.fill(buf, bytes);
    out.clear();
    for (size_t i = 0; i < bytes; ++i) {
      out += kHex[buf[i] >> 4];
      out += kHex[buf[i] & 0xf];
    }
  } while (all_zero(out));
  return out;
}

}  // namespace

std::optional<Traceparent> parse_traceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" trace-flags, version 00: exactly 55 characters.
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16),
                   flags = v.substr(53, 2);
  if (version != "00") return std::nullopt;
  if (!lower_hex(trace) || !lower_hex(parent) || !lower_hex(flags)) return std::nullopt;
  if (all_zero(trace) || all_zero(parent)) return std::nullopt;
  Traceparent out;
  out.trace_id = std::string(trace);
  out.parent_id = std::string(parent);
  out.flags = static_cast<uint8_t>(hex_value(flags[0]) * 16 + hex_value(flags[1]));
  return out;
}

std::string sanitize_tracestate(std::string_view value) {
  std::vector<std::string_view> members;
  std::vector<std::string_view> keys;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view m = trim_ows(value.substr(start, comma - start));
    start = comma + 1;
    if (m.empty()) continue;  // empty list members are allowed, and dropped
    size_t eq = m.find('=');
    if (eq == std::string_view::npos) return "";
    std::string_view key = m.substr(0, eq), val = m.substr(eq + 1);
    if (!valid_key(key) || !valid_value(val)) return "";
    for (auto k : keys) {
      if (k == key) return "";  // a key appears once
    }
    keys.push_back(key);
    members.push_back(m);
    if (members.size() > kMaxTracestateMembers) return "";
  }
  auto total = [&] {
    size_t n = 0;
    for (auto m : members) n += m.size() + (n ? 1 : 0);
    return n;
  };
  // Too long: drop members over 128 characters first, then from the end.
  for (size_t i = members.size(); i-- > 0 && total() > kMaxTracestateChars;) {
    if (members[i].size() > 128) members.erase(members.begin() + static_cast<ptrdiff_t>(i));
  }
  while (!members.empty() && total() > kMaxTracestateChars) members.pop_back();
  std::string out;
  for (auto m : members) {
    if (!out.empty()) out += ',';
    out += m;
  }
  return out;
}

std::string TraceContext::traceparent() const {
  std::string out = "00-";
  out += trace_id;
  out += '-';
  out += span_id;
  out += '-';
  out += kHex[flags >> 4];
  out += kHex[flags & 0xf];
  return out;
}

TraceContext continue_or_start_trace(std::string_view traceparent, size_t traceparent_count,
                                     std::string_view tracestate, Random& random) {
  TraceContext t;
  std::optional<Traceparent> in;
  if (traceparent_count == 1) in = parse_traceparent(traceparent);
  if (in) {
    t.trace_id = std::move(in->trace_id);
    t.parent_id = std::move(in->parent_id);
    t.flags = in->flags & 0x01;  // sampled; the other bits are reserved, sent as zero
    t.continued = true;
    // A tracestate belongs to the traceparent it came with: without a valid one it is dropped.
    t.tracestate = sanitize_tracestate(tracestate);
  } else {
    t.trace_id = random_hex_id(random, 16);
  }
  t.span_id = random_hex_id(random, 8);
  return t;
}

}  // namespace cg::core
