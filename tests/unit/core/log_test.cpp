#include "core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace cg::core {
namespace {

// Runs `f` with stderr sent to a temporary file and returns what it wrote there.
template <class F>
std::string capture_stderr(F f) {
  std::FILE* tmp = std::tmpfile();
  int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  f();
  ::dup2(saved, 2);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

// The fields of a text log line as an operator's tool reads them (logfmt): key=value pairs
// separated by spaces, a value in double quotes may hold spaces and \" escapes. Words that are
// not key=value are skipped.
std::multimap<std::string, std::string> fields(std::string_view line) {
  std::multimap<std::string, std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '=' && line[i] != '"') ++i;
    std::string key(line.substr(start, i - start));
    if (i < line.size() && line[i] == '=') {
      ++i;
      std::string value;
      if (i < line.size() && line[i] == '"') {
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          value += line[i++];
        }
        ++i;
      } else {
        while (i < line.size() && line[i] != ' ') value += line[i++];
      }
      out.emplace(key, value);
    } else if (i < line.size() && line[i] == '"') {
      ++i;  // a quoted word that is not a value: skip it whole
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') ++i;
        ++i;
      }
      ++i;
    }
  }
  return out;
}

std::vector<std::string> keys(std::string_view line) {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields(line)) out.push_back(k);
  return out;
}

constexpr Logger kLog("test");

// The NameID of finding 13: a newline and a forged line after it. The logger writes one line,
// with the newline escaped, and the forged text stays inside the subject's value.
TEST(LogTest, AValueWithANewlineStaysOnItsLine) {
  std::string name_id = "alice\n2026-12-04 level=info gateway forged";
  std::string out = capture_stderr([&] { kLog.info("job 7 submitted by ", name_id, " ok=1"); });
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("submitted by \"alice\\n2026-12-04 level=info gateway forged\" ok=1"),
            std::string::npos)
      << out;
  // The same with log_quote, as many callers write it: quoted once, not twice.
  out = capture_stderr([&] { kLog.info("signin ok subject=", log_quote(name_id), " claims=", 3); });
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find(" subject=\"alice\\n2026-12-04 level=info gateway forged\" claims=3\n"),
            std::string::npos)
      << out;
}

// A value cannot add a key=value field or change one: '=' and spaces make it quoted, quotes
// inside are escaped, and a parser of the line finds the caller's fields only.
TEST(LogTest, AValueCannotForgeAField) {
  for (std::string v : {"x status=200", "x\" status=\"200", "status=200", "a b", "\"",
                        "x\\\" status=200", "x\tstatus=200", "x\rstatus=200 user=root"}) {
    std::string line = Logger::format("request path=", v, " status=", 403, " user=", v);
    auto f = fields(line);
    EXPECT_EQ(keys(line), (std::vector<std::string>{"path", "status", "user"})) << line;
    EXPECT_EQ(f.find("status")->second, "403") << line;
    EXPECT_EQ(f.find("path")->second, f.find("user")->second) << line;
  }
  // The logger's value form is log_quote's.
  EXPECT_EQ(Logger::format("v=", std::string("a=b")), "v=" + log_quote("a=b").text());
}

// Every kind of string argument is a value; literals are the line's own text.
TEST(LogTest, EveryStringKindIsEscapedButLiterals) {
  std::string s = "a b";
  std::string_view sv = s;
  const char* p = s.c_str();
  char buf[8] = "c\nd";
  EXPECT_EQ(Logger::format("s=", s, " sv=", sv, " p=", p, " buf=", buf),
            "s=\"a b\" sv=\"a b\" p=\"a b\" buf=c\\nd");
  bool refused = true;
  // A choice between literals decays to const char*: a value. LogText keeps it text.
  EXPECT_EQ(Logger::format("x", refused ? " refused: " : " not fetched: ", "y"),
            "x\" refused: \"y");
  EXPECT_EQ(Logger::format("x", refused ? LogText(" refused: ") : LogText(" not fetched: "), "y"),
            "x refused: y");
  EXPECT_EQ(Logger::format("a", LogField(), " b"), "a b");
  EXPECT_EQ(Logger::format("a", LogField(" ms=", "1.5"), LogField(" u=", "x y")),
            "a ms=1.5 u=\"x y\"");
  EXPECT_EQ(
      Logger::format("n=", 42, " m=", size_t{7}, " d=", 2.5, " b=", true, " e=", std::string()),
      "n=42 m=7 d=2.5 b=true e=\"\"");
  EXPECT_EQ(Logger::format("p=", std::filesystem::path("/tmp/a b")), "p=\"/tmp/a b\"");
  const char* null = nullptr;
  EXPECT_EQ(Logger::format("p=", null), "p=(null)");
}

// Control characters, DEL, invalid UTF-8 and the Unicode line/bidi controls are escaped;
// well-formed UTF-8 passes; backslashes are doubled so an escape cannot be faked.
TEST(LogTest, EscapesControlsAndInvalidUtf8) {
  EXPECT_EQ(log_quote(std::string("a\0b", 3)).text(), "a\\x00b");
  EXPECT_EQ(log_quote("\x1b[31mred").text(), "\\x1b[31mred");
  EXPECT_EQ(log_quote("del\x7f").text(), "del\\x7f");
  EXPECT_EQ(log_quote("tab\there").text(), "tab\\there");
  EXPECT_EQ(log_quote("cr\rlf\n").text(), "cr\\rlf\\n");
  EXPECT_EQ(log_quote("bad\xff\xc3").text(), "bad\\xff\\xc3");
  EXPECT_EQ(log_quote("\xc0\xaf").text(), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(log_quote("\xed\xa0\x80").text(), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(log_quote("J\xc3\xbcrgen").text(), "J\xc3\xbcrgen");   // ü
  EXPECT_EQ(log_quote("\xe2\x80\xa8x").text(), "\\u2028x");        // LINE SEPARATOR
  EXPECT_EQ(log_quote("\xc2\x85x").text(), "\\u0085x");            // NEL
  EXPECT_EQ(log_quote("\xe2\x80\xae"
                      "evil")
                .text(),
            "\\u202eevil");  // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(log_quote("C:\\n").text(), "C:\\\\n");
  EXPECT_EQ(log_quote("").text(), "\"\"");
  EXPECT_EQ(log_quote("say \"hi\"").text(), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(log_quote("plain-value_1.2").text(), "plain-value_1.2");
  // log_quote's result still works where text is built from it.
  std::string built = "subject " + log_quote("a b");
  EXPECT_EQ(built, "subject \"a b\"");
}

// The last line of defence: whatever text reaches write_log_line, it writes one line.
TEST(LogTest, WriteLogLineNeverWritesARawLineBreak) {
  std::string out = capture_stderr(
      [] { write_log_line(LogLevel::kWarn, "pa\nrt", "one\ntwo\r\n2026-12-04 INFO forged"); });
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("WARN  pa\\nrt one\\ntwo\\r\\n2026-12-04 INFO forged\n"), std::string::npos)
      << out;
  EXPECT_EQ(sanitize_log_text("a\x01z"), "a\\x01z");
  EXPECT_EQ(sanitize_log_text("J\xc3\xbcrgen \"q\""), "J\xc3\xbcrgen \"q\"");
}

// The level filter still applies, and nothing is formatted below it.
TEST(LogTest, LevelFilters) {
  set_log_level(LogLevel::kWarn);
  std::string out = capture_stderr([] { kLog.info("hidden"); });
  set_log_level(LogLevel::kInfo);
  EXPECT_TRUE(out.empty()) << out;
}

// The hostile values of the log tests: a newline followed by a fake JSON object and a fake text
// line, an ESC sequence, U+2028, invalid UTF-8, a quote and a backslash.
const std::string kHostile = std::string("alice\n{\"time\":\"2026\",\"level\":\"error\"}\n") +
                             "2026-12-04T00:00:00.000000Z ERROR gateway forged=1 " +
                             "\x1b[2J\xe2\x80\xa8 \xff\xfe \"q\" \\ \x01" + std::string(1, '\0');

// A minimal JSON reader for the tests: one object of string, number, bool and null members,
// the whole line consumed. Returns the members (strings decoded), or nothing when the line is
// not exactly one JSON object.
std::optional<std::map<std::string, std::string>> parse_json_object(std::string_view s) {
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto str = [&](std::string& out) -> bool {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size() && s[i] != '"') {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 0x20) return false;  // a raw control character: not JSON
      if (c == '\\') {
        if (++i >= s.size()) return false;
        char e = s[i++];
        if (e == 'u') {
          if (i + 4 > s.size()) return false;
          unsigned v = std::stoul(std::string(s.substr(i, 4)), nullptr, 16);
          i += 4;
          // UTF-8 encode (no surrogates are made by the logger)
          if (v < 0x80) {
            out += static_cast<char>(v);
          } else if (v < 0x800) {
            out += static_cast<char>(0xc0 | (v >> 6));
            out += static_cast<char>(0x80 | (v & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (v >> 12));
            out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (v & 0x3f));
          }
        } else {
          const char* from = "\"\\/bfnrt";
          const char* to = "\"\\/\b\f\n\r\t";
          const char* at = std::strchr(from, e);
          if (!at || e == 0) return false;
          out += to[at - from];
        }
      } else {
        out += s[i++];
      }
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  std::map<std::string, std::string> out;
  ws();
  if (i >= s.size() || s[i++] != '{') return std::nullopt;
  ws();
  if (i < s.size() && s[i] == '}') return ++i == s.size() ? std::optional(out) : std::nullopt;
  while (true) {
    ws();
    std::string key, value;
    if (!str(key)) return std::nullopt;
    ws();
    if (i >= s.size() || s[i++] != ':') return std::nullopt;
    ws();
    if (i < s.size() && s[i] == '"') {
      if (!str(value)) return std::nullopt;
    } else {
      size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}') ++i;
      value = std::string(s.substr(start, i - start));
      bool number =
          !value.empty() && value.find_first_not_of("-+.eE0123456789") == std::string::npos;
      if (!number && value != "true" && value != "false" && value != "null") return std::nullopt;
    }
    if (out.contains(key)) return std::nullopt;  // a key twice: a forged member
    out[key] = value;
    ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') {
      ++i;
      break;
    }
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

// Runs `f` with the log in `format`, back to text after.
template <class F>
std::string capture_in(LogFormat format, F f) {
  set_log_format(format);
  std::string out = capture_stderr(f);
  set_log_format(LogFormat::kText);
  return out;
}

// An event in JSON: one object a line with time (RFC 3339 UTC, microseconds), level,
// component, request_id, trace_id, event and the fields, typed; a hostile value stays one
// string member, decoded back to what it was (invalid UTF-8 as U+FFFD).
TEST(LogJsonTest, AnEventIsOneObjectWithItsFieldsWhateverTheValues) {
  LogContext ctx{"r-1", "4bf92f3577b34da6a3ce929d0e0e4736"};
  std::string out = capture_in(LogFormat::kJson, [&] {
    kLog.warn(ctx, "signin.ok",
              {{"subject", kHostile}, {"claims", 3}, {"ok", true}, {"ms", 1.25}, {"n", size_t{7}}});
  });
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::string line = out.substr(0, out.size() - 1);
  auto obj = parse_json_object(line);
  ASSERT_TRUE(obj) << line;
  EXPECT_TRUE(
      std::regex_match((*obj)["time"], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << (*obj)["time"];
  EXPECT_EQ((*obj)["level"], "warn");
  EXPECT_EQ((*obj)["component"], "test");
  EXPECT_EQ((*obj)["request_id"], "r-1");
  EXPECT_EQ((*obj)["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ((*obj)["event"], "signin.ok");
  EXPECT_EQ((*obj)["claims"], "3");
  EXPECT_EQ((*obj)["ok"], "true");
  EXPECT_EQ((*obj)["ms"], "1.25");
  EXPECT_EQ((*obj)["n"], "7");
  std::string want = kHostile;
  for (std::string_view bad : {"\xff", "\xfe"}) want.replace(want.find(bad), 1, "\xef\xbf\xbd");
  EXPECT_EQ((*obj)["subject"], want);
  EXPECT_EQ(obj->size(), 11u) << line;
  // Nothing but escapes: no raw ESC, LINE SEPARATOR or invalid byte reaches the line.
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find("\xe2\x80\xa8"), std::string::npos);
  EXPECT_NE(line.find("\\u001b[2J\\u2028"), std::string::npos) << line;
  EXPECT_EQ(line.find('\xff'), std::string::npos);
}

// A message in JSON: event "message" and the text in msg, values in it unquoted but escaped
// with the rest; a request named by a LogContext argument.
TEST(LogJsonTest, AMessageIsOneObjectToo) {
  std::string out = capture_in(LogFormat::kJson, [&] {
    kLog.info(LogContext{"r-2", ""}, "policy: ", kHostile, " n=", 2);
  });
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  auto obj = parse_json_object(out.substr(0, out.size() - 1));
  ASSERT_TRUE(obj) << out;
  EXPECT_EQ((*obj)["event"], "message");
  EXPECT_EQ((*obj)["request_id"], "r-2");
  EXPECT_FALSE(obj->contains("trace_id"));  // empty: left out
  EXPECT_EQ((*obj)["msg"].rfind("policy: alice\n{\"time\"", 0), 0u) << (*obj)["msg"];
  EXPECT_NE((*obj)["msg"].find(" n=2"), std::string::npos);
}

// An event in text: the name after the component, then request_id, trace_id and the fields,
// each value escaped and quoted where needed; a hostile value cannot add a field or a line.
TEST(LogTextTest, AnEventIsOneRecordOfKeyValueFields) {
  LogContext ctx{"r-1", "4bf92f3577b34da6a3ce929d0e0e4736"};
  std::string out = capture_stderr([&] {
    kLog.info(ctx, "signin.ok",
              {{"subject", kHostile}, {"claims", 3}, {"user", LogValue()}, {"path", "a b"}});
  });
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::string line = out.substr(0, out.size() - 1);
  EXPECT_TRUE(std::regex_search(
      line, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z INFO  test signin\.ok )")))
      << line;
  EXPECT_EQ(keys(line),
            (std::vector<std::string>{"claims", "path", "request_id", "subject", "trace_id"}))
      << line;
  auto f = fields(line);
  EXPECT_EQ(f.find("request_id")->second, "r-1");
  EXPECT_EQ(f.find("claims")->second, "3");
  EXPECT_EQ(f.find("path")->second, "a b");
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    EXPECT_FALSE(u < 0x20 || u == 0x7f) << line;
  }
  EXPECT_EQ(line.find("\xe2\x80\xa8"), std::string::npos);
  EXPECT_NE(line.find("\\x1b[2J\\u2028 \\xff\\xfe \\\"q\\\" \\\\ \\x01\\x00\""), std::string::npos)
      << line;
}

// render_log_line is what both writers use: the same record, both formats.
TEST(LogTextTest, RendersARecordInBothFormats) {
  LogKv kv[] = {{"status", 403}, {"path", "/x"}};
  LogRecord r;
  r.level = LogLevel::kError;
  r.component = "gateway";
  r.context = {"abc", "0123456789abcdef0123456789abcdef"};
  r.event = "request";
  r.fields = kv;
  EXPECT_EQ(render_log_line(r, LogFormat::kText, "T"),
            "T ERROR gateway request request_id=abc trace_id=0123456789abcdef0123456789abcdef "
            "status=403 path=/x");
  EXPECT_EQ(render_log_line(r, LogFormat::kJson, "T"),
            "{\"time\":\"T\",\"level\":\"error\",\"component\":\"gateway\",\"request_id\":\"abc\","
            "\"trace_id\":\"0123456789abcdef0123456789abcdef\",\"event\":\"request\","
            "\"status\":403,\"path\":\"/x\"}");
}

// The config's words for the format.
TEST(LogTextTest, ParsesTheFormatNames) {
  LogFormat f = LogFormat::kText;
  EXPECT_TRUE(parse_log_format("json", f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_FALSE(parse_log_format("JSON", f));
  EXPECT_FALSE(parse_log_format("logfmt", f));
}

}  // namespace
}  // namespace cg::core
