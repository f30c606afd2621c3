//! `/admin/gateway`: every service with its status and each instance's live health, rendered
//! on the server (no script; the page refreshes itself every 10 s). Uses the platform's
//! stylesheet, so it needs no inline styles under the site's CSP.

use crate::registry::{Health, Status};
use crate::Gateway;
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str, refresh: bool) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{}\
         <title>{}</title><link rel=\"stylesheet\" href=\"/assets/app.css\">\
         <link rel=\"stylesheet\" href=\"/theme.css\"></head><body><main id=\"main\">",
        if refresh {
            "<meta http-equiv=\"refresh\" content=\"10\">"
        } else {
            ""
        },
        esc(title)
    )
}

/// The page shown instead when the caller may not see the registry.
pub(crate) fn refusal(message: &str) -> String {
    format!(
        "{}<h1>Gateway</h1><p>{}. This page is for administrators; \
         <a href=\"/login\">sign in</a> with an admin account.</p></main></body></html>",
        head("Gateway", false),
        esc(message)
    )
}

pub(crate) fn page(gw: &Gateway) -> String {
    let stats = gw.stats();
    let services = gw.services();
    let mut h = head("Gateway — services", true);
    let _ = write!(
        h,
        "<h1>Gateway</h1><p>{} services: <strong>{} active</strong>, {} inactive \
         (of which {} unavailable: nothing provides them). Measured {}; refreshes every 10 s.</p>",
        stats.total,
        stats.active,
        stats.inactive,
        stats.unavailable,
        esc(&stats.timestamp)
    );
    h.push_str(
        "<table><thead><tr><th scope=\"col\">Service</th><th scope=\"col\">Category</th>\
         <th scope=\"col\">Provider</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Instances</th></tr></thead><tbody>",
    );
    for s in &services {
        let status = match s.status {
            Status::Active => "active",
            Status::Inactive => "inactive",
            Status::Unavailable => "unavailable",
        };
        let _ = write!(
            h,
            "<tr><td><strong>{}</strong><br><code>{}</code></td><td>{}</td><td>{}{}</td>\
             <td>{}{}</td><td>",
            esc(&s.name),
            esc(&s.id),
            esc(s.category.as_str()),
            esc(&s.provider),
            s.capability
                .as_deref()
                .map(|c| format!("<br><small>{}</small>", esc(c)))
                .unwrap_or_default(),
            status,
            s.reason
                .map(|r| format!("<br><small>{}</small>", esc(r)))
                .unwrap_or_default(),
        );
        if s.instances().is_empty() {
            h.push('—');
        } else {
            h.push_str("<ul>");
            for i in s.instances() {
                let health = match i.health {
                    Health::Up => "up",
                    Health::Down => "down",
                    Health::Unknown => "not checked yet",
                };
                let _ = write!(
                    h,
                    "<li><code>{}</code> {} — {}, breaker {}, {} requests, {} failures{}{}</li>",
                    esc(&i.id),
                    esc(&i.url),
                    health,
                    serde_json::to_value(i.breaker)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    i.requests,
                    i.failures,
                    i.latency_ms
                        .map(|ms| format!(", check {ms:.1} ms"))
                        .unwrap_or_default(),
                    i.last_error
                        .as_deref()
                        .map(|e| format!(" <small>({})</small>", esc(e)))
                        .unwrap_or_default(),
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("</td></tr>");
    }
    h.push_str("</tbody></table></main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
