#include "core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
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

}  // namespace
}  // namespace cg::core
