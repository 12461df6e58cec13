//! Twilio: text messages (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) and
//! voice calls (`.../Calls.json`, reading the alert out with inline TwiML `<Say>`), both
//! form-encoded with HTTP basic auth (the account SID and auth token). A message goes from
//! the channel's `from` number or its messaging service; a call needs a `from` number.
//! A text is at most 1,600 characters (Twilio's limit) and adds no character outside
//! GSM-7 of its own (a cut ends in `...`), so only an alert's own text can make it billed
//! at the UCS-2 rate.
//!
//! Twilio answers 201 with the resource (`{"sid": "SM..."/"CA...", "status": "queued"}`),
//! whose SID is kept. Its errors are `{"code": 21211, "message", "more_info", "status":
//! 400}`: 429 (code 20429) and 5xx are retried, waiting `Retry-After` when given; every
//! other 4xx (an invalid number, bad credentials, an unverified trial number) fails at
//! once. Later, Twilio posts status callbacks (form-encoded, signed with
//! `X-Twilio-Signature`, see [`verify_signature`]) that [`classify_callback`] reads.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::http::{bad_config, failure, retry_after, snippet, status_line};
use super::render::{Rendered, render};
use super::{DeliveryOutcome, Message};

/// Twilio's REST API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// Twilio's limit on a text message's body.
const MAX_SMS_CHARS: usize = 1600;
/// Longest incident title read out in a call.
const MAX_SPOKEN_TITLE_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
struct Config {
    account_sid: String,
    auth_token: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    to: String,
    api_base_url: Option<String>,
}

/// The text of a message: the headline, the severity, alert count and source as `Label:
/// value` lines, then one `Label: url` line per `(label, url)` of `action_links` (the
/// magic links). Cut to 1,600 characters, the headline and fields first, so the links
/// stay whole.
pub fn sms_text(message: &Message<'_>, action_links: &[(&str, &str)]) -> String {
    text(&render(message), action_links)
}

fn text(rendered: &Rendered, action_links: &[(&str, &str)]) -> String {
    let mut head = rendered.headline();
    for (label, value) in &rendered.fields {
        if matches!(*label, "Severity" | "Alerts" | "Source") {
            head.push_str(&format!("\n{label}: {value}"));
        }
    }
    let tail: String = action_links
        .iter()
        .map(|(label, url)| format!("\n{label}: {url}"))
        .collect();
    let room = MAX_SMS_CHARS.saturating_sub(tail.chars().count());
    let mut text = cut(&head, room);
    text.push_str(&tail);
    cut(&text, MAX_SMS_CHARS)
}

/// `text` cut to `max` characters, ending in `...` (not `…`, which is outside GSM-7)
/// when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut shortened: String = text.chars().take(max.saturating_sub(3)).collect();
    shortened.push_str(&"...".chars().take(max).collect::<String>());
    shortened
}

/// The TwiML a call plays: `Tocsin alert. Severity critical. Disk full on db-1. 3
/// alerts.`, said twice with a pause between, every XML-reserved character escaped.
pub fn twiml(message: &Message<'_>) -> String {
    twiml_saying(&spoken(&render(message)))
}

fn twiml_saying(text: &str) -> String {
    let text = escape_xml(text);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">{text}</Say><Pause length="1"/><Say voice="alice">{text}</Say></Response>"#
    )
}

/// What a call says: `Tocsin alert. Severity critical. Disk full on db-1. 3 alerts.`
/// (`Tocsin alert resolved.` / `Tocsin alert acknowledged.` for those events).
fn spoken(rendered: &Rendered) -> String {
    let opening = match rendered.status {
        "Triggered" => "Tocsin alert.".to_owned(),
        status => format!("Tocsin alert {}.", status.to_lowercase()),
    };
    // Characters XML 1.0 forbids become spaces; the title's own full stop is not doubled.
    let title: String = rendered
        .title
        .chars()
        .take(MAX_SPOKEN_TITLE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = title.trim().trim_end_matches('.');
    let mut text = format!(
        "{opening} Severity {}. {title}.",
        rendered.severity.as_str().to_lowercase()
    );
    let alerts = rendered
        .fields
        .iter()
        .find(|(label, _)| *label == "Alerts")
        .and_then(|(_, value)| value.parse::<i64>().ok());
    match alerts {
        Some(1) => text.push_str(" 1 alert."),
        Some(n) => text.push_str(&format!(" {n} alerts.")),
        None => {}
    }
    text
}

/// Escapes `& < > " '` for XML text and attributes.
fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Sends the message as a text to the channel's `to` number, from its `from` number or
/// messaging service. With `status_callback`, Twilio posts the message's progress there.
pub async fn send_sms(
    http: &reqwest::Client,
    config: &Value,
    message: &Message<'_>,
    status_callback: Option<&str>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let mut params = vec![("To", config.to.clone())];
    match (&config.from, &config.messaging_service_sid) {
        (_, Some(service)) => params.push(("MessagingServiceSid", service.clone())),
        (Some(from), None) => params.push(("From", from.clone())),
        (None, None) => return bad_config("give from or messaging_service_sid"),
    }
    params.push(("Body", sms_text(message, &message.links())));
    if let Some(callback) = status_callback {
        params.push(("StatusCallback", callback.to_owned()));
    }
    post(http, &config, "Messages", &params).await
}

/// Calls the channel's `to` number from its `from` number and reads the alert out (see
/// [`twiml`]). With `status_callback`, Twilio posts there once the call has ended.
pub async fn send_call(
    http: &reqwest::Client,
    config: &Value,
    message: &Message<'_>,
    status_callback: Option<&str>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let Some(from) = config.from.clone() else {
        return bad_config("a voice call needs a from number");
    };
    let mut params = vec![
        ("To", config.to.clone()),
        ("From", from),
        ("Twiml", twiml(message)),
    ];
    if let Some(callback) = status_callback {
        params.push(("StatusCallback", callback.to_owned()));
        params.push(("StatusCallbackEvent", "completed".to_owned()));
    }
    post(http, &config, "Calls", &params).await
}

/// Creates a `resource` (`Messages`, `Calls`) of the account and classifies the answer.
async fn post(
    http: &reqwest::Client,
    config: &Config,
    resource: &str,
    params: &[(&str, String)],
) -> DeliveryOutcome {
    let base = config
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let url = format!(
        "{base}/2010-04-01/Accounts/{}/{resource}.json",
        config.account_sid
    );
    let form = match serde_urlencoded::to_string(params) {
        Ok(form) => form,
        Err(e) => return bad_config(e),
    };
    let request = http
        .post(url)
        .basic_auth(&config.account_sid, Some(&config.auth_token))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form);
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: answer["sid"].as_str().map(str::to_owned),
        };
    }
    failure(status, error_text(status, &answer, &text), wait)
}

/// `Twilio answered 400 Bad Request: 21211 The 'To' number ... is not a valid phone
/// number.`, from Twilio's error body.
fn error_text(status: reqwest::StatusCode, answer: &Value, text: &str) -> String {
    match (answer["code"].as_i64(), answer["message"].as_str()) {
        (Some(code), Some(message)) => {
            format!("Twilio answered {}: {code} {message}", status_line(status))
        }
        (None, Some(message)) => format!("Twilio answered {}: {message}", status_line(status)),
        _ => snippet(status, text),
    }
}

/// The `X-Twilio-Signature` of a request Twilio makes: base64 of the HMAC-SHA1, keyed
/// with the auth token, of the full URL Twilio called (with its query string) followed by
/// each POST parameter's name and value, the parameters sorted by name (then value).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    mac(auth_token, url, params)
        .map(|mac| BASE64.encode(mac))
        .unwrap_or_default()
}

/// Whether `header_value` is the [`signature`] of the request, compared in constant time.
/// `url` must be exactly the URL Twilio called, as given to it (scheme, host, port, path,
/// query).
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_value: &str,
) -> bool {
    let Some(expected) = mac(auth_token, url, params) else {
        return false;
    };
    let expected = BASE64.encode(expected);
    expected
        .as_bytes()
        .ct_eq(header_value.trim().as_bytes())
        .into()
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Option<Vec<u8>> {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).ok()?;
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    Some(mac.finalize().into_bytes().to_vec())
}

/// What a status callback says of a message or a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The text was delivered (or read), or the call was answered and has ended.
    Delivered,
    /// It will not arrive: `Twilio reported undelivered (error 30003)`.
    Failed(String),
    /// Still on its way (queued, sent, ringing, in progress).
    Progress,
}

/// Reads a status callback's parameters: the message's or call's SID and what its status
/// means. None when the parameters are neither a message's (`MessageSid`,
/// `MessageStatus`) nor a call's (`CallSid`, `CallStatus`).
pub fn classify_callback(params: &[(String, String)]) -> Option<(String, CallbackOutcome)> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let failed = |status: &str| {
        CallbackOutcome::Failed(match get("ErrorCode").filter(|code| !code.is_empty()) {
            Some(code) => format!("Twilio reported {status} (error {code})"),
            None => format!("Twilio reported {status}"),
        })
    };
    if let (Some(sid), Some(status)) = (get("MessageSid"), get("MessageStatus")) {
        let outcome = match status {
            "delivered" | "read" => CallbackOutcome::Delivered,
            "undelivered" | "failed" | "canceled" => failed(status),
            _ => CallbackOutcome::Progress,
        };
        return Some((sid.to_owned(), outcome));
    }
    if let (Some(sid), Some(status)) = (get("CallSid"), get("CallStatus")) {
        let outcome = match status {
            "completed" => CallbackOutcome::Delivered,
            "busy" | "failed" | "no-answer" | "canceled" => failed(status),
            _ => CallbackOutcome::Progress,
        };
        return Some((sid.to_owned(), outcome));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Severity;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rendered(title: &str) -> Rendered {
        Rendered {
            status: "Triggered",
            title: title.to_owned(),
            severity: Severity::Critical,
            fields: vec![
                ("Severity", "CRITICAL".to_owned()),
                ("Alerts", "3".to_owned()),
                ("Source", "prometheus".to_owned()),
                ("Triggered", "2024-05-01 12:00 UTC".to_owned()),
            ],
            description: None,
            actionable_incident: None,
            link: None,
        }
    }

    #[test]
    fn the_signature_matches_twilios_published_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify_signature(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        // The order they arrive in does not matter; a changed value or token does.
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(verify_signature(
            "12345",
            url,
            &reversed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify_signature(
            "12346",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify_signature("12345", url, &params, ""));
    }

    #[test]
    fn the_text_keeps_links_whole_and_stays_within_1600_characters() {
        let short = text(
            &rendered("Disk full"),
            &[("Acknowledge", "https://tocsin.example/a/1")],
        );
        assert_eq!(
            short,
            "[CRITICAL] Triggered: Disk full\nSeverity: CRITICAL\nAlerts: 3\nSource: prometheus\nAcknowledge: https://tocsin.example/a/1"
        );
        let long = text(
            &rendered(&"x".repeat(3000)),
            &[("Resolve", "https://tocsin.example/r/1")],
        );
        assert_eq!(long.chars().count(), MAX_SMS_CHARS);
        assert!(
            long.ends_with("...\nResolve: https://tocsin.example/r/1"),
            "{long}"
        );
    }

    #[test]
    fn the_call_says_the_alert_twice_escaped() {
        let twiml = twiml_saying(&spoken(&rendered("Disk <full> & \"db\" 'one'.")));
        assert_eq!(
            twiml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"alice\">Tocsin alert. Severity critical. Disk &lt;full&gt; &amp; &quot;db&quot; &apos;one&apos;. 3 alerts.</Say>\
             <Pause length=\"1\"/>\
             <Say voice=\"alice\">Tocsin alert. Severity critical. Disk &lt;full&gt; &amp; &quot;db&quot; &apos;one&apos;. 3 alerts.</Say>\
             </Response>"
        );
    }

    #[test]
    fn callbacks_are_classified() {
        assert_eq!(
            classify_callback(&pairs(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "delivered")
            ])),
            Some(("SM1".to_owned(), CallbackOutcome::Delivered))
        );
        assert_eq!(
            classify_callback(&pairs(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "undelivered"),
                ("ErrorCode", "30003"),
            ])),
            Some((
                "SM1".to_owned(),
                CallbackOutcome::Failed("Twilio reported undelivered (error 30003)".to_owned())
            ))
        );
        assert_eq!(
            classify_callback(&pairs(&[("MessageSid", "SM1"), ("MessageStatus", "sent")])),
            Some(("SM1".to_owned(), CallbackOutcome::Progress))
        );
        assert_eq!(
            classify_callback(&pairs(&[("CallSid", "CA1"), ("CallStatus", "no-answer")])),
            Some((
                "CA1".to_owned(),
                CallbackOutcome::Failed("Twilio reported no-answer".to_owned())
            ))
        );
        assert_eq!(
            classify_callback(&pairs(&[("CallSid", "CA1"), ("CallStatus", "completed")])),
            Some(("CA1".to_owned(), CallbackOutcome::Delivered))
        );
        assert_eq!(classify_callback(&pairs(&[("Foo", "bar")])), None);
    }

    #[test]
    fn twilio_errors_name_code_and_message() {
        let answer = serde_json::json!({
            "code": 21211,
            "message": "The 'To' number +1555 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        });
        assert_eq!(
            error_text(reqwest::StatusCode::BAD_REQUEST, &answer, ""),
            "Twilio answered 400 Bad Request: 21211 The 'To' number +1555 is not a valid phone number."
        );
    }
}
