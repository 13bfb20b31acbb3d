#include "gateway/pages.h"

#include "core/time.h"
#include "xml/node.h"

namespace cg::gateway {
namespace {

constexpr const char* kStyle = R"css(
:root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6475;--bg:#f5f6f8;--card:#fff;--line:#e2e5ea;--accent:#3557d4;--bad:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ec;--muted:#9aa3b2;--bg:#14171c;--card:#1d2128;--line:#2c323b;--accent:#7d9bff;--bad:#ff8a80}}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:14px 28px;border-bottom:1px solid var(--line);background:var(--card);font-weight:600;letter-spacing:.2px}
header span{color:var(--accent)}main{max-width:880px;margin:40px auto;padding:0 20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:28px 32px;margin-bottom:20px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:16px;margin:24px 0 8px}p{margin:8px 0}.muted{color:var(--muted)}
.code{display:inline-block;font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:2px 8px;color:var(--bad)}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:500;width:32%}td code,li code{font:13px ui-monospace,Menlo,monospace;word-break:break-all}
a.button{display:inline-block;margin-top:14px;padding:9px 18px;border-radius:8px;background:var(--accent);color:#fff;text-decoration:none;font-weight:500}
a.button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent);padding:8px 17px}
ul.idps{list-style:none;padding:0}ul.idps li{margin:10px 0}ul.vals{margin:0;padding-left:18px}
input[type=text]{font:20px ui-monospace,Menlo,monospace;letter-spacing:3px;padding:8px 12px;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg);width:14em}
button{margin:14px 10px 0 0;padding:9px 18px;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:#fff;font:inherit;font-weight:500;cursor:pointer}
button.secondary{background:transparent;color:var(--accent)}p.problem{color:var(--bad)}
footer{color:var(--muted);font-size:12px;text-align:center;margin:30px 0}
p.lead{font-size:17px;margin:4px 0 12px}a.button+a.button{margin-left:10px}
p.ref{margin-top:24px;padding-top:14px;border-top:1px solid var(--line);font-size:13px}p.ref .code{font-size:12px;padding:1px 6px}
.card.details{border-left:4px solid var(--accent)}.card.details h2{margin-top:0}
pre.detail{white-space:pre-wrap;word-break:break-word;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:10px 0 0}
)css";

std::string layout(std::string_view title, const std::string& body) {
  return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
         "<meta name=\"robots\" content=\"noindex\"><title>" +
         xml::escape(title) + " · claimgate</title><style>" + kStyle +
         "</style></head><body><header><span>&#9670;</span> claimgate</header><main>" + body +
         "</main><footer>claimgate identity-aware gateway</footer></body></html>";
}

}  // namespace

std::string render_error_page(const ErrorPage& p) {
  std::string b = "<div class=\"card\"><h1>" + xml::escape(p.title) + "</h1><p class=\"lead\">" +
                  xml::escape(p.message) + "</p>";
  std::string label = xml::escape(p.action_label.empty() ? "Try again" : p.action_label);
  std::string who = xml::escape(p.contact_text);
  if (!p.contact_url.empty())
    who = "<a href=\"" + xml::escape(p.contact_url) + "\">" + who + "</a>";
  if (p.next == Next::kRetry) {
    b += "<p>Trying again usually works.</p>";
    if (!p.action_url.empty())
      b += "<a class=\"button\" href=\"" + xml::escape(p.action_url) + "\">" + label + "</a>";
    b += "<p class=\"muted\">If it keeps happening, contact " + who +
         " and give them the request id below.</p>";
  } else if (p.next == Next::kContact) {
    b += "<p>Trying again will not change this: it needs a change by the people who run this "
         "service. Please contact " +
         who + " and give them the request id below.</p>";
    if (!p.contact_url.empty())
      b += "<a class=\"button\" href=\"" + xml::escape(p.contact_url) + "\">Ask for help</a>";
    if (!p.action_url.empty()) {
      b += "<a class=\"button secondary\" href=\"" + xml::escape(p.action_url) + "\">" + label +
           "</a>";
    }
  } else if (!p.action_url.empty()) {
    b += "<a class=\"button\" href=\"" + xml::escape(p.action_url) + "\">" + label + "</a>";
  }
  b += "<p class=\"ref muted\">Request id <code>" + xml::escape(p.request_id) + "</code>";
  if (!p.code.empty()) b += " &middot; <span class=\"code\">" + xml::escape(p.code) + "</span>";
  b += " &middot; HTTP " + std::to_string(p.status) + "</p></div>";
  if (!p.detail.empty()) {
    b += "<div class=\"card details\"><h2>For the administrator</h2><p class=\"muted\">" +
         xml::escape(p.why_detail) +
         ". The gateway's log and its audit record of this request hold the same words.</p>"
         "<pre class=\"detail\">" +
         xml::escape(p.detail) + "</pre></div>";
  }
  return layout(p.title, b);
}

std::string render_chooser(const std::vector<IdpChoice>& idps) {
  std::string b =
      "<div class=\"card\"><h1>Sign in</h1><p class=\"muted\">Choose your "
      "organisation's identity provider.</p><ul class=\"idps\">";
  for (const auto& i : idps) {
    b += "<li><a class=\"button\" href=\"" + xml::escape(i.url) + "\">" + xml::escape(i.label) +
         "</a></li>";
  }
  return layout("Sign in", b + "</ul></div>");
}

std::string render_whoami(const WhoamiView& v) {
  const session::Session& s = *v.session;
  auto row = [](std::string_view k, std::string_view val) {
    return "<tr><th>" + xml::escape(k) + "</th><td><code>" + xml::escape(val) + "</code></td></tr>";
  };
  std::string b =
      "<div class=\"card\"><h1>Who am I</h1><p class=\"muted\">What the gateway "
      "knows about you, and every claim your identity provider sent at sign-in. "
      "Upstreams receive the same identity.</p><table>";
  b += row("User", s.subject);
  b += row("NameID", s.name_id + (s.name_id_format.empty() ? "" : " (" + s.name_id_format + ")"));
  b += row("Email", s.first("email"));
  b += row("Groups", [&] {
    std::string g;
    for (const auto& x : s.values("groups")) g += (g.empty() ? "" : ", ") + x;
    return g.empty() ? std::string("(none)") : g;
  }());
  b += row("Identity provider", s.idp + " (" + s.idp_entity_id + ")");
  b += row("Signed in", core::format_datetime(s.created));
  b += row("Session expires", v.expires);
  b += row("Idle limit", v.idle_expires);
  b += "</table><h2>Roles</h2>";
  if (!v.grants || v.grants->list.empty()) {
    b += "<p class=\"muted\">No role: your claims match none of the policy's role bindings, "
         "so only routes open to every signed-in person let you in.</p>";
  } else {
    b += "<table class=\"roles\"><tr><th>Project</th><th>Role</th><th>From the claim</th></tr>";
    for (const auto& g : v.grants->list) {
      b += "<tr><td><code>" + xml::escape(g.project == "*" ? "every project" : g.project) +
           "</code></td><td><code>" + xml::escape(g.role) + "</code></td><td><code>" +
           xml::escape(g.claim_text()) + "</code> <span class=\"muted\">(" +
           xml::escape(g.binding) + ")</span></td></tr>";
    }
    b += "</table>";
  }
  b += "<h2>Claims received</h2><table>";
  for (const auto& c : s.claims) {
    std::string vals = "<ul class=\"vals\">";
    for (const auto& x : c.values) vals += "<li><code>" + xml::escape(x) + "</code></li>";
    vals += "</ul>";
    std::string name = xml::escape(c.name);
    if (!c.alias.empty() && c.alias != c.name)
      name += "<br><span class=\"muted\">" + xml::escape(c.alias) + "</span>";
    b += "<tr><th>" + name + "</th><td>" + vals + "</td></tr>";
  }
  if (s.claims.empty()) b += "<tr><td class=\"muted\">No attributes were sent.</td></tr>";
  b += "</table><h2>Terminal logins and agent tokens</h2>";
  if (v.via) {
    b += "<p>This request came with " +
         std::string(v.via->kind == "agent"
                         ? "agent token <code>" + xml::escape(v.via->agent) + "</code>"
                         : "a terminal login's access token") +
         " (<code>" + xml::escape(v.via->id) + "</code>).</p>";
  }
  if (v.tokens.empty()) {
    b += "<p class=\"muted\">None. <code>claimgate login</code> signs a terminal in; "
         "<code>claimgate token create --agent</code> makes an agent token.</p>";
  } else {
    b += "<table class=\"tokens\"><tr><th>Id</th><th>Kind</th><th>Scope</th><th>Expires</th></tr>";
    for (const auto& t : v.tokens) {
      std::string kind = t.kind == "agent" ? "agent " + t.agent : "terminal login";
      std::string scope = "(everything you hold)";
      if (t.kind == "agent") {
        scope.clear();
        for (const auto& p : t.scope) scope += (scope.empty() ? "" : ", ") + p;
        scope += t.project.empty() ? " in any project" : " in " + t.project;
      }
      b += "<tr><td><code>" + xml::escape(t.id) + "</code></td><td>" + xml::escape(kind) +
           "<br><span class=\"muted\">" + xml::escape(t.client) + "</span></td><td>" +
           xml::escape(scope) + "</td><td>" + xml::escape(core::format_datetime(t.expires)) +
           "</td></tr>";
    }
    b += "</table>";
  }
  b += "<a class=\"button\" href=\"" + xml::escape(v.logout_url) + "\">Sign out</a></div>";
  return layout("Who am I", b);
}

std::string render_signed_out(std::string_view detail) {
  return layout("Signed out", "<div class=\"card\"><h1>You are signed out</h1><p>" +
                                  xml::escape(detail) +
                                  "</p><a class=\"button\" href=\"/\">Sign in again</a></div>");
}

std::string render_logout_confirm(const LogoutConfirm& f) {
  std::string b =
      "<div class=\"card\"><h1>Sign out?</h1><p>You are signed in as <strong>" +
      xml::escape(f.subject) +
      "</strong>. Signing out ends your session with the gateway, and at your identity "
      "provider when it offers single logout.</p><p class=\"muted\">Terminal logins and agent "
      "tokens stay signed in: <code>claimgate logout</code> ends those.</p>"
      "<form method=\"post\" action=\"/saml/logout\"><input type=\"hidden\" name=\"csrf\" "
      "value=\"" +
      xml::escape(f.csrf) + "\"><input type=\"hidden\" name=\"rd\" value=\"" + xml::escape(f.rd) +
      "\"><button type=\"submit\">Sign out</button><a class=\"button secondary\" href=\"" +
      xml::escape(f.rd.empty() ? "/" : f.rd) + "\">Stay signed in</a></form></div>";
  return layout("Sign out", b);
}

std::string render_device_form(const DeviceForm& f) {
  std::string b =
      "<div class=\"card\"><h1>Sign in a terminal</h1><p>Enter the code that "
      "<code>claimgate login --device</code> shows. The terminal will act as <strong>" +
      xml::escape(f.subject) +
      "</strong>, with your permissions, until you sign it out or its login expires.</p>"
      "<p class=\"muted\">Only enter a code you started yourself: anyone who gives you a code "
      "gets your access.</p>";
  if (!f.problem.empty()) b += "<p class=\"problem\">" + xml::escape(f.problem) + "</p>";
  b += "<form method=\"post\" action=\"/.claimgate/device\"><input type=\"text\" "
       "name=\"user_code\" autocomplete=\"off\" placeholder=\"XXXX-XXXX\" value=\"" +
       xml::escape(f.code) +
       "\" aria-label=\"Code\"><input type=\"hidden\" name=\"csrf\" value=\"" +
       xml::escape(f.csrf) +
       "\"><br><button type=\"submit\" name=\"action\" value=\"approve\">Allow</button>"
       "<button class=\"secondary\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button>"
       "</form></div>";
  return layout("Sign in a terminal", b);
}

std::string render_cli_consent(const CliConsent& c) {
  std::string roles = c.roles.empty() ? "no roles under the current policy" : c.roles;
  std::string b =
      "<div class=\"card\"><h1>Sign in a terminal?</h1><p><code>claimgate login</code>, "
      "running on a machine that calls itself <strong>" +
      xml::escape(c.client.empty() ? std::string("(no name given)") : c.client) +
      "</strong>, asks to act as <strong>" + xml::escape(c.subject) +
      "</strong>.</p><ul><li>It gets a login of its own, with your permissions (" +
      xml::escape(roles) + "), for " + xml::escape(c.lifetime) +
      " unless you sign it out (<code>claimgate logout</code>, or your tokens on the whoami "
      "page).</li><li>The sign-in code goes to <code>" +
      xml::escape(c.redirect) +
      "</code> on the computer this browser runs on.</li></ul>"
      "<p class=\"muted\">Only allow this if you just ran <code>claimgate login</code> "
      "yourself. A page or program that sent you here cannot sign in as you unless you "
      "allow it.</p>"
      "<form method=\"post\" action=\"/.claimgate/cli/authorize\"><input type=\"hidden\" "
      "name=\"request\" value=\"" +
      xml::escape(c.request) +
      "\"><button type=\"submit\" name=\"action\" value=\"approve\">Allow</button>"
      "<button class=\"secondary\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button>"
      "</form></div>";
  return layout("Sign in a terminal?", b);
}

std::string render_device_done(bool approved, std::string_view detail) {
  std::string title = approved ? "Terminal signed in" : "Request refused";
  return layout(title, "<div class=\"card\"><h1>" + xml::escape(title) + "</h1><p>" +
                           xml::escape(detail) + "</p></div>");
}

}  // namespace cg::gateway
