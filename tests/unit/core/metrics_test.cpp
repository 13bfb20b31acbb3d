#include "core/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "core/clock.h"
#include "core/process_metrics.h"

namespace cg::core {
namespace {

// One line of the text exposition format 0.0.4: HELP, TYPE, or a sample.
bool valid_line(const std::string& line) {
  static const std::regex help(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* (?:[^\\\n]|\\[\\n])+)");
  static const std::regex type(
      R"(# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")"
      R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? )"
      R"((?:[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN))");
  return std::regex_match(line, help) || std::regex_match(line, type) ||
         std::regex_match(line, sample);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

double sample(const std::string& text, const std::string& name) {
  for (const auto& l : lines(text)) {
    if (l.starts_with(name + " ")) return std::stod(l.substr(name.size() + 1));
  }
  return -1;
}

// Label values escape backslash, quote and line feed; a control character or a byte that is
// not UTF-8 becomes U+FFFD; valid UTF-8 passes as it is.
TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_label("CN=Zoë, O=Ünï"), "CN=Zoë, O=Ünï");
  EXPECT_EQ(escape_label("x\ry\x01z\x7f"), "x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD");
  // Truncated, overlong, surrogate, past U+10FFFF, a lone continuation byte.
  for (std::string bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80"}) {
    std::string out = escape_label("<" + bad + ">");
    EXPECT_EQ(out.front(), '<');
    EXPECT_EQ(out.back(), '>');
    EXPECT_NE(out.find("\xEF\xBF\xBD"), std::string::npos) << bad.size();
    EXPECT_EQ(out.find(bad), std::string::npos);
  }
  EXPECT_EQ(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
}

// A registry with every kind of family renders lines the format allows, with HELP and TYPE
// before each family's samples; a hostile label value stays inside its quotes.
TEST(MetricsTest, RendersValidExposition) {
  MetricsRegistry r;
  auto& c = r.counter("t_requests_total", "Requests,\nby route", {"route", "code"});
  c.inc({"a\"}\n# TYPE forged counter\nforged_total 1", "\xff"});
  c.inc_cached({"b", "200"});
  c.inc_cached({"b", "200"});
  r.gauge("t_temperature_celsius", "A gauge", {"where"}, [] {
    return std::vector<std::pair<Labels, double>>{{{"in"}, 21.5}, {{"out"}, -3}};
  });
  r.counter_reader("t_read_total", "A counter read at scrape", {}, [] {
    return std::vector<std::pair<Labels, double>>{{{}, 7}};
  });
  auto& h = r.histogram("t_latency_seconds", "A histogram", {0.1, 1});
  h.observe(0.05);
  h.observe(5);
  std::string text = r.render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  for (const auto& l : lines(text)) EXPECT_TRUE(valid_line(l)) << l;
  EXPECT_EQ(text.find("\nforged_total"), std::string::npos) << text;
  EXPECT_EQ(text.find("\n# TYPE forged"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP t_requests_total Requests,\\nby route\n"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{route=\"b\",code=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE t_read_total counter\nt_read_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE t_temperature_celsius gauge\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.10000000000000001\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 2\n"), std::string::npos);
}

// The process's own figures, read from /proc/self: present, and plausible for this process.
TEST(MetricsTest, ReadsPlausibleProcessMetrics) {
  auto s = read_process_stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->resident_bytes, 1 << 20);              // more than 1 MiB resident
  EXPECT_LT(s->resident_bytes, 64.0 * (1ull << 30));  // and less than 64 GiB
  EXPECT_GE(s->virtual_bytes, s->resident_bytes);
  EXPECT_GE(s->open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_TRUE(s->max_fds == -1 || s->max_fds >= s->open_fds);
  EXPECT_GE(s->cpu_seconds, 0);
  double now =
      std::chrono::duration<double>(SystemClock::instance().now().time_since_epoch()).count();
  EXPECT_GT(s->start_time_seconds, 1.5e9);
  EXPECT_LE(s->start_time_seconds, now + 1);
  // One more descriptor open is counted.
  int fd = ::dup(0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(read_process_stats()->open_fds, s->open_fds + 1);
  ::close(fd);

  MetricsRegistry r;
  register_process_metrics(r, "claimgate");
  std::string text = r.render();
  for (const auto& l : lines(text)) EXPECT_TRUE(valid_line(l)) << l;
  for (const char* name :
       {"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
        "process_max_fds", "process_cpu_seconds_total", "process_start_time_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name), std::string::npos) << name;
    EXPECT_NE(sample(text, name), -1.0) << name << "\n" << text;
  }
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 1 << 20);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      text, m,
      std::regex("claimgate_build_info\\{version=\"([^\"]+)\",commit=\"([^\"]+)\","
                 "compiler=\"([^\"]+)\"\\} 1\n")))
      << text;
  EXPECT_EQ(m[1].str(), build_info().version);
  EXPECT_NE(m[1].str(), "unknown");
}

// The fields of /proc/<pid>/stat follow the last ')': a command name with spaces and
// parentheses does not shift them.
TEST(MetricsTest, ParsesProcStatPastOddCommandNames) {
  std::string line =
      "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 12345 "
      "104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = parse_proc_stat(line, 100, 4096, 1.7e9);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);  // (250 + 50) / 100
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1.7e9 + 123.45);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 104857600);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 2560.0 * 4096);
  EXPECT_FALSE(parse_proc_stat("4242 (a) S 1 2 3", 100, 4096, 0).has_value());
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all", 100, 4096, 0).has_value());
  std::string bad = line;
  bad.replace(bad.find(" 250 "), 5, " x50 ");
  EXPECT_FALSE(parse_proc_stat(bad, 100, 4096, 0).has_value());
}

}  // namespace
}  // namespace cg::core
