//! Alert channels on the wire: a delivery's message as each kind wants it (Standard Webhooks, Slack
//! blocks, PagerDuty Events v2, e-mail in plain text and HTML) and the one attempt that sends it, with a
//! time limit, no redirects and, unless allowed, no private target addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dbpower_store::ClaimedDelivery;
use dbpower_types::{AlertView, ChannelKind, WeeklyReport};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::SecretCipher;

/// PagerDuty's Events API v2 endpoint, unless a channel names another.
pub(crate) const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// What an attempt needs besides the delivery.
#[derive(Clone)]
pub(crate) struct Senders {
    pub cipher: SecretCipher,
    pub timeout: Duration,
    pub allow_private: bool,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub public_url: Option<String>,
}

/// A new webhook signing secret: `whsec_` and 32 random bytes in base64.
pub(crate) fn new_webhook_secret() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the secret's key (Standard Webhooks).
pub(crate) fn webhook_signature(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
        .ok_or("the channel's signing secret is malformed")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a target URL: http(s) with a host; in production (`allow_private` false) https only.
pub(crate) fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must be https".into()),
        _ => return Err("must be an http(s) URL".into()),
    }
    if parsed.host_str().is_none_or(str::is_empty) || url.len() > 2048 {
        return Err("needs a host (and at most 2048 characters)".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not hold credentials".into());
    }
    Ok(parsed)
}

/// Whether an address is not globally routable (or embeds one that is not): loopback, private,
/// link-local, CGNAT, benchmarking, reserved and "this network" ranges, multicast; IPv6 unique-local and
/// link-local, and IPv4 addresses embedded in IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) and
/// 6to4 (2002::/16) addresses.
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                private(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| private(IpAddr::V4(v4)))
                || (s[..6] == [0; 6] && embedded(s[6], s[7]))
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
                || (s[0] == 0x2002 && embedded(s[1], s[2]))
        }
    }
}

/// Resolves the target once, refuses private addresses unless allowed, and pins the client to what
/// was checked (no second lookup that could answer differently).
async fn client_for(url: &reqwest::Url, s: &Senders) -> Result<reqwest::Client, String> {
    let host = url.host_str().ok_or("no host")?.to_string();
    let port = url.port_or_known_default().ok_or("no port")?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        s.timeout,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| "name resolution timed out".to_string())?
    .map_err(|e| format!("cannot resolve {host}: {e}"))?
    .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to nothing"));
    }
    if !s.allow_private && addrs.iter().any(|a| private(a.ip())) {
        return Err(format!(
            "{host} resolves to a private address; refused (alerts.allow_private_targets)"
        ));
    }
    reqwest::Client::builder()
        // A proxy would resolve the name again, past the check above.
        .no_proxy()
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| e.without_url().to_string())
}

/// Sends one attempt of `d`. The error says what failed without the target's secret parts.
pub(crate) async fn send(d: &ClaimedDelivery, s: &Senders) -> Result<(), String> {
    let secret = match &d.channel.secret_ciphertext {
        Some(c) => Some(
            s.cipher
                .decrypt(c)
                .map_err(|_| "the channel's secret cannot be decrypted".to_string())?,
        ),
        None => None,
    };
    if d.event == "report" {
        let report: WeeklyReport = serde_json::from_value(d.message["report"].clone())
            .map_err(|_| "the report cannot be read".to_string())?;
        if d.channel.view.kind != ChannelKind::Email {
            return Err("weekly reports go to e-mail channels only".into());
        }
        let (subject, text, html) = report_mail(&report, s.public_url.as_deref());
        return send_mail(d, s, &subject, text, html).await;
    }
    let alert: Option<AlertView> = serde_json::from_value(d.message["alert"].clone()).ok();
    let text = Text::of(d, alert.as_ref(), s.public_url.as_deref());
    match d.channel.view.kind {
        ChannelKind::Webhook => {
            let url = d.channel.public.url.as_deref().ok_or("no URL")?;
            let body = serde_json::to_vec(&serde_json::json!({
                "type": text.event_type,
                "timestamp": chrono::Utc::now(),
                "data": d.message,
            }))
            .map_err(|e| e.to_string())?;
            let ts = chrono::Utc::now().timestamp();
            let sig =
                webhook_signature(secret.as_deref().unwrap_or(""), &d.delivery_id, ts, &body)?;
            post(url, s, body, |r| {
                r.header("webhook-id", &d.delivery_id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
            })
            .await
        }
        ChannelKind::Slack => {
            let url = secret.as_deref().ok_or("no Slack URL")?;
            let body = serde_json::to_vec(&slack_message(&text)).map_err(|e| e.to_string())?;
            post(url, s, body, |r| r).await
        }
        ChannelKind::Pagerduty => {
            let url = d.channel.public.url.as_deref().unwrap_or(PAGERDUTY_URL);
            let key = secret.as_deref().ok_or("no routing key")?;
            let body = serde_json::to_vec(&pagerduty_event(d, key, &text, alert.as_ref()))
                .map_err(|e| e.to_string())?;
            post(url, s, body, |r| r).await
        }
        ChannelKind::Email => {
            let (plain, html) = alert_mail(&text);
            send_mail(d, s, &text.title, plain, html).await
        }
    }
}

async fn post(
    url: &str,
    s: &Senders,
    body: Vec<u8>,
    headers: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<(), String> {
    let url = check_url(url, s.allow_private)?;
    let client = client_for(&url, s).await?;
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "DBPower-Alerts/1")
        .body(body);
    let resp = headers(request)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // At most 4 KiB of the answer is read: a receiver cannot make the platform buffer its body.
    let mut resp = resp;
    let mut head = Vec::new();
    while head.len() < 4096 {
        match resp.chunk().await {
            Ok(Some(c)) => head.extend_from_slice(&c[..c.len().min(4096 - head.len())]),
            _ => break,
        }
    }
    let mut text = String::from_utf8_lossy(&head).into_owned();
    text.truncate(text.floor_char_boundary(200));
    Err(format!("HTTP {}: {}", status.as_u16(), text.trim()))
}

/// A delivery in words, shared by every kind.
pub(crate) struct Text {
    pub event_type: &'static str,
    pub title: String,
    pub summary: String,
    pub link: Option<String>,
    pub fields: Vec<(&'static str, String)>,
}

impl Text {
    fn of(d: &ClaimedDelivery, alert: Option<&AlertView>, public_url: Option<&str>) -> Text {
        let Some(a) = alert else {
            return Text {
                event_type: "test",
                title: format!("DBPower test message for channel {}", d.channel.view.name),
                summary: "This channel is set up: alerts will arrive here.".into(),
                link: None,
                fields: Vec::new(),
            };
        };
        let (event_type, verb) = if d.event == "resolve" {
            ("alert.resolved", "Resolved")
        } else {
            ("alert.triggered", "Alert")
        };
        let kind = a.kind.as_str().replace('_', " ");
        let mut fingerprint = a.fingerprint.clone();
        fingerprint.truncate(fingerprint.floor_char_boundary(300));
        Text {
            event_type,
            title: format!("{verb}: {kind} in query {} ({})", a.query_id, a.severity),
            summary: a.evidence.summary.clone(),
            link: public_url
                .map(|u| format!("{}/query-classes/{}", u.trim_end_matches('/'), a.query_id)),
            fields: vec![
                ("Query", fingerprint),
                ("Engine", a.database_type.clone()),
                ("Opened", a.opened_at.to_rfc3339()),
                ("Alert", format!("#{}", a.id)),
            ],
        }
    }
}

fn slack_message(t: &Text) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = t
        .fields
        .iter()
        .map(|(k, v)| serde_json::json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(v))}))
        .collect();
    let mut blocks = vec![
        serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": t.title.chars().take(150).collect::<String>()}}),
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&t.summary)}}),
    ];
    if !fields.is_empty() {
        blocks.push(serde_json::json!({"type": "section", "fields": fields}));
    }
    if let Some(link) = &t.link {
        blocks.push(serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{link}|Open in DBPower>")}]}));
    }
    serde_json::json!({"text": format!("{}: {}", t.title, t.summary), "blocks": blocks})
}

/// Slack's three control characters in mrkdwn.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn pagerduty_event(
    d: &ClaimedDelivery,
    key: &str,
    t: &Text,
    alert: Option<&AlertView>,
) -> serde_json::Value {
    let dedup = match alert {
        Some(a) => format!("dbpower-alert-{}", a.id),
        None => format!("dbpower-test-{}", d.delivery_id),
    };
    if d.event == "resolve" {
        return serde_json::json!({"routing_key": key, "event_action": "resolve", "dedup_key": dedup});
    }
    let severity = match alert.map(|a| a.severity.as_str()) {
        Some("CRITICAL") => "critical",
        Some("HIGH") => "error",
        Some("MEDIUM") => "warning",
        _ => "info",
    };
    serde_json::json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": t.title.chars().take(1024).collect::<String>(),
            "source": "dbpower",
            "severity": severity,
            "component": alert.map(|a| a.query_id.clone()),
            "class": alert.map(|a| a.kind.as_str()),
            "custom_details": alert.map(|a| serde_json::json!(a.evidence)),
        },
        "links": t.link.as_ref().map(|l| vec![serde_json::json!({"href": l, "text": "Open in DBPower"})]).unwrap_or_default(),
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An alert as an e-mail: plain text and HTML.
fn alert_mail(t: &Text) -> (String, String) {
    let mut text = format!("{}\n\n{}\n\n", t.title, t.summary);
    let mut html = format!(
        "<h2>{}</h2><p>{}</p><table>",
        html_escape(&t.title),
        html_escape(&t.summary)
    );
    for (k, v) in &t.fields {
        text.push_str(&format!("{k}: {v}\n"));
        html.push_str(&format!(
            "<tr><th align=\"left\">{k}</th><td><code>{}</code></td></tr>",
            html_escape(v)
        ));
    }
    html.push_str("</table>");
    if let Some(link) = &t.link {
        text.push_str(&format!("\n{link}\n"));
        html.push_str(&format!(
            "<p><a href=\"{0}\">{0}</a></p>",
            html_escape(link)
        ));
    }
    (text, html)
}

/// Milliseconds as people read them.
fn duration(ms: f64) -> String {
    if ms >= 60_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// A weekly report as an e-mail: its subject, plain text and HTML.
pub(crate) fn report_mail(r: &WeeklyReport, public_url: Option<&str>) -> (String, String, String) {
    let week = r.from.format("%Y-%m-%d");
    let subject = format!("DBPower weekly report for {}: week of {week}", r.team_name);
    let summary = format!(
        "{} executions, {} in total; {} new classes, {} regressed, {} alerts resolved.",
        r.calls,
        duration(r.total_time_ms),
        r.new_count,
        r.regressed_count,
        r.resolved_count
    );
    let mut text = format!("{subject}\n\n{summary}\n");
    let mut html = format!(
        "<h2>{}</h2><p>{}</p>",
        html_escape(&subject),
        html_escape(&summary)
    );
    let link =
        |q: &str| public_url.map(|u| format!("{}/query-classes/{q}", u.trim_end_matches('/')));
    for (title, rows) in [
        ("Most time", &r.top),
        ("New this week", &r.new),
        ("Regressed (mean and p95 1.5x or more)", &r.regressed),
    ] {
        text.push_str(&format!("\n{title}\n"));
        html.push_str(&format!(
            "<h3>{title}</h3><table><tr><th align=\"left\">Query</th><th>Calls</th><th>Total</th><th>Mean</th><th>p95</th><th>vs last week</th></tr>"
        ));
        if rows.is_empty() {
            text.push_str("  (none)\n");
            html.push_str("<tr><td colspan=\"6\">none</td></tr>");
        }
        for c in rows {
            let mean = c.mean_ms.map(duration).unwrap_or_default();
            let p95 = c.p95_ms.map(duration).unwrap_or_default();
            let ratio = c.mean_ratio.map(|x| format!("{x:.2}x")).unwrap_or_default();
            text.push_str(&format!(
                "  {} {} calls, {} total, mean {mean}, p95 {p95} {ratio}\n    {}\n",
                c.query_id,
                c.calls,
                duration(c.total_time_ms),
                c.fingerprint
            ));
            let id = match link(&c.query_id) {
                Some(l) => format!(
                    "<a href=\"{}\">{}</a>",
                    html_escape(&l),
                    html_escape(&c.query_id)
                ),
                None => html_escape(&c.query_id),
            };
            html.push_str(&format!(
                "<tr><td>{id}<br><code>{}</code></td><td>{}</td><td>{}</td><td>{mean}</td><td>{p95}</td><td>{ratio}</td></tr>",
                html_escape(&c.fingerprint),
                c.calls,
                duration(c.total_time_ms)
            ));
        }
        html.push_str("</table>");
    }
    text.push_str(&format!("\nAlerts resolved: {}\n", r.resolved_count));
    html.push_str(&format!(
        "<h3>Alerts resolved: {}</h3><ul>",
        r.resolved_count
    ));
    for a in &r.resolved {
        let kind = a.kind.as_str().replace('_', " ");
        text.push_str(&format!("  #{} {kind} in query {}\n", a.id, a.query_id));
        html.push_str(&format!(
            "<li>#{} {kind} in query {}</li>",
            a.id,
            html_escape(&a.query_id)
        ));
    }
    html.push_str("</ul>");
    (subject, text, html)
}

async fn send_mail(
    d: &ClaimedDelivery,
    s: &Senders,
    subject: &str,
    text: String,
    html: String,
) -> Result<(), String> {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let url = s
        .smtp_url
        .as_deref()
        .ok_or("no SMTP relay is configured (alerts.smtp_url)")?;
    let from: Mailbox = s
        .smtp_from
        .parse()
        .map_err(|e| format!("alerts.smtp_from: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject.chars().take(200).collect::<String>())
        .message_id(Some(format!("<{}@dbpower>", d.delivery_id)));
    for to in &d.channel.public.to {
        builder = builder.to(to.parse().map_err(|e| format!("recipient: {e}"))?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| format!("alerts.smtp_url: {e}"))?
        .timeout(Some(s.timeout))
        .build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = webhook_signature(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("signs");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(webhook_signature("nope", "a", 1, b"").is_err());
    }

    #[test]
    fn targets_are_checked() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("http://hooks.example.com/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("ftp://x", true).is_err());
        assert!(check_url("https://user:pw@x.example/", false).is_err());
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::a00:1",
            "::ffff:10.0.0.1",
        ] {
            assert!(private(ip.parse().expect("ip")), "{ip}");
        }
        assert!(!private("93.184.216.34".parse().expect("ip")));
        assert!(!private("2606:4700::1111".parse().expect("ip")));
        assert!(
            !private("64:ff9b::5db8:d822".parse().expect("ip")),
            "NAT64 of a public address"
        );
    }
}
