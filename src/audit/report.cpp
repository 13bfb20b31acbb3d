#include "audit/report.h"

#include <algorithm>
#include <map>

#include "core/encoding.h"
#include "core/time.h"

namespace cg::audit {
namespace {

using json = nlohmann::json;

json parse(const std::string& s) { return json::parse(s, nullptr, false); }

std::string str(const json& j, const char* k) {
  if (!j.is_object()) return "";
  auto it = j.find(k);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_null()) return "";
  return it->dump();
}

std::string html_escape(std::string_view s) { return core::markup_escape(s); }

std::string csv_field(const std::string& s) {
  // Quoted when needed; a leading = + - @ is neutralised (spreadsheet formula injection).
  std::string v = s;
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')) v = "'" + v;
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string o = "\"";
  for (char c : v) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

// The columns each table shows, in order (the JSON rows carry these keys).
const std::vector<std::pair<std::string, std::vector<std::string>>>& tables() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> t{
      {"users", {"subject", "idp", "sign_ins", "last_sign_in", "roles"}},
      {"role_grants", {"subject", "role", "project", "claim", "value", "binding"}},
      {"privileged_actions",
       {"time", "type", "subject", "permission", "project", "method", "path", "detail"}},
      {"denials",
       {"time", "subject", "method", "path", "reason", "rule", "project", "permission",
        "request_id", "trace_id"}},
      {"failed_sign_ins", {"code", "count", "last", "issuer", "message"}},
      {"sessions", {"subject", "created", "logged_out", "expired", "revoked"}},
      {"tokens_alive", {"token_id", "subject", "created_by", "issued", "expires", "scope"}},
      {"per_day", {"day", "sign_ins", "failed_sign_ins", "denials", "allows"}},
  };
  return t;
}

const char* title_of(const std::string& t) {
  static const std::map<std::string, const char*> m{
      {"users", "Users and their roles"},
      {"role_grants", "Role grants and the claim each came from"},
      {"privileged_actions", "Privileged actions"},
      {"denials", "Denied requests"},
      {"failed_sign_ins", "Failed sign-ins by error code"},
      {"sessions", "Sessions per user"},
      {"tokens_alive", "Tokens alive"},
      {"per_day", "Per day"}};
  auto it = m.find(t);
  return it == m.end() ? "" : it->second;
}

}  // namespace

json verify_json(const VerifyReport& v, const std::vector<std::string>& files) {
  json c = {{"intact", v.ok()},         {"files", files},         {"records", v.records},
            {"first_seq", v.first_seq}, {"last_seq", v.last_seq}, {"checkpoints", v.checkpoints},
            {"notes", v.notes},         {"seconds", v.seconds}};
  c["unsigned_tail"] = v.unsigned_tail;
  c["signed_by"] = json::object();
  for (const auto& [who, n] : v.signers) c["signed_by"][who] = n;
  if (v.error) {
    c["error"] = {{"code", v.error->code},
                  {"name", v.error->name},
                  {"message", v.error->message},
                  {"file", v.error_file},
                  {"line", v.error_line}};
  }
  return c;
}

const std::vector<std::string>& privileged_permissions() {
  static const std::vector<std::string> p{"models:deploy",   "compute:create",  "compute:delete",
                                          "jobs:cancel-any", "sessions:revoke", "tokens:create",
                                          "audit:read"};
  return p;
}

Result<json> build_report(Index& index, core::WallTime since, core::WallTime now,
                          const VerifyReport& chain, const std::vector<std::string>& files) {
  std::string from = core::format_datetime(since, true);
  json r;
  r["title"] = "claimgate access report";
  r["generated"] = core::format_datetime(now);
  r["since"] = core::format_datetime(since);
  r["chain"] = verify_json(chain, files);

  // Totals by type.
  CG_TRY(auto totals, index.rows("SELECT type, COUNT(*) FROM events WHERE time>=? GROUP BY type "
                                 "ORDER BY type",
                                 {from}));
  json& t = r["totals"];
  t = json::object();
  for (auto& row : totals) t[row[0]] = std::stoll(row[1]);

  // Users: their last sign-in's roles, with the claim behind each.
  CG_TRY(auto users,
         index.rows("SELECT subject, COUNT(*), MAX(time) FROM events WHERE "
                    "type='login.success' AND time>=? GROUP BY subject ORDER BY subject",
                    {from}));
  r["users"] = json::array();
  r["role_grants"] = json::array();
  for (auto& u : users) {
    CG_TRY(auto last, index.rows("SELECT record FROM events WHERE type='login.success' AND "
                                 "subject=? AND time>=? ORDER BY time DESC LIMIT 1",
                                 {u[0], from}));
    json rec = last.empty() ? json() : parse(last[0][0]);
    std::vector<std::string> roles;
    if (rec.is_object() && rec.contains("role_grants") && rec["role_grants"].is_array()) {
      for (const auto& g : rec["role_grants"]) {
        roles.push_back(str(g, "role") + "@" + str(g, "project"));
        r["role_grants"].push_back({{"subject", u[0]},
                                    {"role", str(g, "role")},
                                    {"project", str(g, "project")},
                                    {"claim", str(g, "claim")},
                                    {"value", str(g, "value")},
                                    {"binding", str(g, "binding")}});
      }
    }
    std::sort(roles.begin(), roles.end());
    roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
    std::string joined;
    for (const auto& x : roles) joined += (joined.empty() ? "" : ", ") + x;
    r["users"].push_back({{"subject", u[0]},
                          {"idp", str(rec, "idp")},
                          {"sign_ins", std::stoll(u[1])},
                          {"last_sign_in", u[2]},
                          {"roles", joined.empty() ? "(none)" : joined}});
  }

  // Privileged actions: allowed uses of privileged permissions, and revocations.
  std::string in;
  std::vector<std::string> params{from};
  for (const auto& p : privileged_permissions()) {
    in += in.empty() ? "?" : ",?";
    params.push_back(p);
  }
  CG_TRY(auto priv,
         index.rows(
             "SELECT record FROM events WHERE time>=? AND ((type='authz.allow' AND "
             "permission IN (" +
                 in +
                 ")) OR type IN ('session.revoked','token.revoked',"
                 "'job.cancelled','policy.reloaded','policy.refused')) ORDER BY time LIMIT 10000",
             params));
  r["privileged_actions"] = json::array();
  for (auto& row : priv) {
    json e = parse(row[0]);
    std::string detail = str(e, "reason");
    if (detail.empty()) detail = str(e, "detail");
    if (!str(e, "by").empty()) detail += (detail.empty() ? "by " : " by ") + str(e, "by");
    r["privileged_actions"].push_back({{"time", str(e, "time")},
                                       {"type", str(e, "type")},
                                       {"subject", str(e, "subject")},
                                       {"permission", str(e, "permission")},
                                       {"project", str(e, "project")},
                                       {"method", str(e, "method")},
                                       {"path", str(e, "path")},
                                       {"detail", detail}});
  }

  CG_TRY(auto denials, index.rows("SELECT record FROM events WHERE type='authz.deny' AND time>=? "
                                  "ORDER BY time LIMIT 10000",
                                  {from}));
  r["denials"] = json::array();
  for (auto& row : denials) {
    json e = parse(row[0]);
    r["denials"].push_back({{"time", str(e, "time")},
                            {"subject", str(e, "subject")},
                            {"method", str(e, "method")},
                            {"path", str(e, "path")},
                            {"reason", str(e, "reason")},
                            {"rule", str(e, "rule")},
                            {"project", str(e, "project")},
                            {"permission", str(e, "permission")},
                            // "" in records of no request or written before trace ids
                            {"request_id", str(e, "request_id")},
                            {"trace_id", str(e, "trace_id")}});
  }

  CG_TRY(auto failed,
         index.rows("SELECT code, COUNT(*), MAX(time), MAX(record) FROM events WHERE "
                    "type='login.failure' AND time>=? GROUP BY code ORDER BY 2 DESC, 1",
                    {from}));
  r["failed_sign_ins"] = json::array();
  for (auto& row : failed) {
    json e = parse(row[3]);
    r["failed_sign_ins"].push_back({{"code", row[0]},
                                    {"count", std::stoll(row[1])},
                                    {"last", row[2]},
                                    {"issuer", str(e, "issuer")},
                                    {"message", str(e, "message")}});
  }

  CG_TRY(auto sessions,
         index.rows("SELECT subject, SUM(type='session.created'), SUM(type='session.logged_out'), "
                    "SUM(type='session.expired'), SUM(type='session.revoked') FROM events WHERE "
                    "time>=? AND type IN ('session.created','session.logged_out',"
                    "'session.expired','session.revoked') GROUP BY subject ORDER BY subject",
                    {from}));
  r["sessions"] = json::array();
  for (auto& row : sessions) {
    r["sessions"].push_back({{"subject", row[0]},
                             {"created", std::stoll(row[1])},
                             {"logged_out", std::stoll(row[2])},
                             {"expired", std::stoll(row[3])},
                             {"revoked", std::stoll(row[4])}});
  }

  // Tokens issued (at any time) that are neither revoked nor expired now.
  CG_TRY(auto tokens,
         index.rows("SELECT i.record FROM events i WHERE i.type='token.issued' AND NOT EXISTS "
                    "(SELECT 1 FROM events r WHERE r.type='token.revoked' AND "
                    "json_extract(r.record,'$.token_id')=json_extract(i.record,'$.token_id')) "
                    "AND COALESCE(json_extract(i.record,'$.expires'),'9999')>? ORDER BY i.time",
                    {core::format_datetime(now, true)}));
  r["tokens_alive"] = json::array();
  for (auto& row : tokens) {
    json e = parse(row[0]);
    r["tokens_alive"].push_back({{"token_id", str(e, "token_id")},
                                 {"subject", str(e, "subject")},
                                 {"created_by", str(e, "created_by")},
                                 {"issued", str(e, "time")},
                                 {"expires", str(e, "expires")},
                                 {"scope", str(e, "scope")}});
  }

  CG_TRY(auto days,
         index.rows("SELECT day, SUM(type='login.success'), SUM(type='login.failure'), "
                    "SUM(type='authz.deny'), SUM(type='authz.allow') FROM events WHERE time>=? "
                    "GROUP BY day ORDER BY day",
                    {from}));
  r["per_day"] = json::array();
  for (auto& row : days) {
    r["per_day"].push_back({{"day", row[0]},
                            {"sign_ins", std::stoll(row[1])},
                            {"failed_sign_ins", std::stoll(row[2])},
                            {"denials", std::stoll(row[3])},
                            {"allows", std::stoll(row[4])}});
  }
  return r;
}

std::string report_csv(const json& r) {
  std::string o;
  o += "section,chain\nintact,records,first_seq,last_seq,checkpoints,problem\n";
  o += std::string(r["chain"]["intact"].get<bool>() ? "yes" : "NO") + "," +
       std::to_string(r["chain"]["records"].get<uint64_t>()) + "," +
       std::to_string(r["chain"]["first_seq"].get<uint64_t>()) + "," +
       std::to_string(r["chain"]["last_seq"].get<uint64_t>()) + "," +
       std::to_string(r["chain"]["checkpoints"].get<uint64_t>()) + "," +
       csv_field(r["chain"].contains("error") ? str(r["chain"]["error"], "message") : "") + "\n";
  for (const auto& [name, cols] : tables()) {
    o += "\nsection," + name + "\n";
    for (size_t i = 0; i < cols.size(); ++i) o += (i ? "," : "") + cols[i];
    o += "\n";
    for (const auto& row : r[name]) {
      for (size_t i = 0; i < cols.size(); ++i)
        o += (i ? "," : "") + csv_field(str(row, cols[i].c_str()));
      o += "\n";
    }
  }
  return o;
}

namespace {

// Grouped bars per day: one colour per series, a legend, day labels.
std::string bar_chart(const json& days,
                      const std::vector<std::pair<std::string, std::string>>& series,
                      const std::string& title) {
  int64_t max = 1;
  for (const auto& d : days) {
    for (const auto& [key, colour] : series) max = std::max<int64_t>(max, d.value(key, int64_t{0}));
  }
  const int h = 180, top = 24, bottom = 36, left = 40;
  int group = static_cast<int>(series.size()) * 14 + 10;
  int w = left + std::max<int>(1, static_cast<int>(days.size())) * group + 20;
  std::string s = "<figure><svg xmlns='http://www.w3.org/2000/svg' role='img' width='" +
                  std::to_string(w) + "' height='" + std::to_string(h + top + bottom) +
                  "' aria-label='" + html_escape(title) + "'>";
  s += "<line x1='" + std::to_string(left) + "' y1='" + std::to_string(top + h) + "' x2='" +
       std::to_string(w - 10) + "' y2='" + std::to_string(top + h) + "' stroke='#888'/>";
  s += "<text x='4' y='" + std::to_string(top + 4) + "' font-size='11'>" + std::to_string(max) +
       "</text><text x='4' y='" + std::to_string(top + h) + "' font-size='11'>0</text>";
  int x = left + 5;
  for (const auto& d : days) {
    int bx = x;
    for (const auto& [key, colour] : series) {
      int64_t v = d.value(key, int64_t{0});
      int bh = static_cast<int>(v * h / max);
      s += "<rect x='" + std::to_string(bx) + "' y='" + std::to_string(top + h - bh) +
           "' width='12' height='" + std::to_string(bh) + "' fill='" + colour + "'><title>" +
           html_escape(str(d, "day") + " " + key + ": " + std::to_string(v)) + "</title></rect>";
      bx += 14;
    }
    s += "<text x='" + std::to_string(x) + "' y='" + std::to_string(top + h + 14) +
         "' font-size='10'>" + html_escape(str(d, "day").substr(5)) + "</text>";
    x += group;
  }
  int lx = left;
  for (const auto& [key, colour] : series) {
    s += "<rect x='" + std::to_string(lx) + "' y='" + std::to_string(top + h + 22) +
         "' width='10' height='10' fill='" + colour + "'/><text x='" + std::to_string(lx + 14) +
         "' y='" + std::to_string(top + h + 31) + "' font-size='11'>" + html_escape(key) +
         "</text>";
    lx += 130;
  }
  s += "</svg><figcaption>" + html_escape(title) + "</figcaption></figure>";
  return s;
}

}  // namespace

std::string report_html(const json& r) {
  std::string o =
      "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>claimgate access "
      "report</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;"
      "padding:3px 8px;text-align:left;vertical-align:top}th{background:#f2f2f2}"
      ".ok{color:#176317;font-weight:600}.bad{color:#a00;font-weight:600}figure{display:"
      "inline-block;margin:0 2em 1em 0}figcaption{font-size:12px;color:#555}"
      "td.num{text-align:right}.muted{color:#777}</style></head><body>";
  o += "<h1>claimgate access report</h1><p>Records since <b>" + html_escape(str(r, "since")) +
       "</b>, generated " + html_escape(str(r, "generated")) + ".</p>";
  const json& c = r["chain"];
  o += "<h2>Audit log integrity</h2>";
  if (c["intact"].get<bool>()) {
    o += "<p id='chain-status' class='ok'>Chain intact: " +
         std::to_string(c["records"].get<uint64_t>()) + " records (" +
         std::to_string(c["first_seq"].get<uint64_t>()) + " to " +
         std::to_string(c["last_seq"].get<uint64_t>()) + "), " +
         std::to_string(c["checkpoints"].get<uint64_t>()) + " signed checkpoints verified.</p>";
  } else {
    o += "<p id='chain-status' class='bad'>Chain BROKEN: " +
         html_escape(str(c["error"], "name") + " at " + str(c["error"], "file") + ":" +
                     str(c["error"], "line") + ": " + str(c["error"], "message")) +
         "</p>";
  }
  for (const auto& n : c["notes"])
    o += "<p class='muted'>" + html_escape(n.get<std::string>()) + "</p>";
  o += "<h2>Activity per day</h2>";
  o += bar_chart(r["per_day"], {{"sign_ins", "#2f6fb3"}, {"failed_sign_ins", "#e08a1e"}},
                 "Sign-ins per day");
  o += bar_chart(r["per_day"], {{"denials", "#c0392b"}}, "Denials per day");
  o += "<h2>Totals</h2><table><tr><th>event</th><th>count</th></tr>";
  for (const auto& [k, v] : r["totals"].items()) {
    o += "<tr><td>" + html_escape(k) + "</td><td class='num'>" + v.dump() + "</td></tr>";
  }
  o += "</table>";
  for (const auto& [name, cols] : tables()) {
    if (name == "per_day") continue;
    const json& rows = r[name];
    o += "<h2 id='" + name + "'>" + html_escape(title_of(name)) + " <span class='muted'>(" +
         std::to_string(rows.size()) + ")</span></h2>";
    if (rows.empty()) {
      o += "<p class='muted'>None in this period.</p>";
      continue;
    }
    o += "<table><tr>";
    for (const auto& col : cols) o += "<th>" + html_escape(col) + "</th>";
    o += "</tr>";
    for (const auto& row : rows) {
      o += "<tr>";
      for (const auto& col : cols) o += "<td>" + html_escape(str(row, col.c_str())) + "</td>";
      o += "</tr>";
    }
    o += "</table>";
  }
  o += "</body></html>\n";
  return o;
}

}  // namespace cg::audit
