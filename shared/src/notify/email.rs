//! Email, through Amazon SES (API v2 `SendEmail` with the raw MIME message) or any SMTP
//! server (lettre). Both send the same message: `multipart/alternative` with a text part
//! and an HTML part, the subject being the headline, and a `Message-ID` derived from the
//! notification id so a retry that reached the server twice threads as one mail.
//!
//! SES: throttling (429), 5xx and transport errors are retried; other 4xx (an unverified
//! sender, a paused account, a malformed address) fail at once. SMTP: 4yz replies and
//! connection problems are retried, 5yz replies (mailbox unknown, relaying denied) fail at
//! once with the server's text.

use std::time::Duration;

use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use super::http::bad_config;
use super::render::{Rendered, render};
use super::{DeliveryOutcome, Message};
use crate::state::AppState;

/// How a channel's mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Ses,
    Smtp,
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on a trusted network.
    None,
}

#[derive(Debug, Deserialize)]
struct Config {
    transport: Transport,
    from: String,
    to: Vec<String>,
    configuration_set: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    #[serde(default)]
    security: Security,
    username: Option<String>,
    password: Option<String>,
}

/// The mail as it goes out: subject, text and HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Composes the mail for a message. `action_links` are (label, URL) buttons, such as the
/// magic links that acknowledge or resolve.
pub fn compose(message: &Message<'_>, action_links: &[(&str, &str)]) -> Mail {
    let rendered = render(message);
    Mail {
        subject: rendered.headline().chars().take(200).collect(),
        text: text_part(&rendered, action_links),
        html: html_part(&rendered, action_links),
    }
}

fn text_part(rendered: &Rendered, action_links: &[(&str, &str)]) -> String {
    let mut text = format!("{}\n\n", rendered.headline());
    for (label, value) in &rendered.fields {
        text.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(description) = &rendered.description {
        text.push_str(&format!("\n{description}\n"));
    }
    if let Some(link) = &rendered.link {
        text.push_str(&format!("\nDashboard: {link}\n"));
    }
    for (label, url) in action_links {
        text.push_str(&format!("\n{label}: {url}\n"));
    }
    text.push_str("\n-- \nSent by Tocsin\n");
    text
}

fn html_part(rendered: &Rendered, action_links: &[(&str, &str)]) -> String {
    let colour = format!("#{:06X}", rendered.colour());
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif\">\
         <div style=\"border-left:6px solid {colour};padding:8px 16px\">\
         <h2 style=\"margin:0 0 12px\">{title}</h2><table>",
        title = escape_html(&rendered.headline()),
    );
    for (label, value) in &rendered.fields {
        html.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding-right:12px\">{}</th><td>{}</td></tr>",
            escape_html(label),
            escape_html(value)
        ));
    }
    html.push_str("</table>");
    if let Some(description) = &rendered.description {
        html.push_str(&format!(
            "<p style=\"white-space:pre-wrap\">{}</p>",
            escape_html(description)
        ));
    }
    let mut links: Vec<(&str, &str)> = action_links.to_vec();
    if let Some(link) = &rendered.link {
        links.push(("Open dashboard", link));
    }
    if !links.is_empty() {
        html.push_str("<p>");
        for (label, url) in links {
            html.push_str(&format!(
                "<a href=\"{}\" style=\"display:inline-block;margin-right:8px;padding:8px 14px;\
                 background:#333;color:#fff;text-decoration:none;border-radius:4px\">{}</a>",
                escape_html(url),
                escape_html(label)
            ));
        }
        html.push_str("</p>");
    }
    html.push_str("</div><p style=\"color:#888;font-size:12px\">Sent by Tocsin</p></body></html>");
    html
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The MIME message, addressed from `from` to `to`.
pub fn build(
    from: &str,
    to: &[String],
    notification_id: uuid::Uuid,
    mail: &Mail,
) -> Result<lettre::Message, String> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("from is not an address: {e}"))?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{notification_id}@tocsin>")));
    for address in to {
        let mailbox: Mailbox = address
            .parse()
            .map_err(|e| format!("{address} is not an address: {e}"))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// Sends the message through the channel's transport.
pub async fn send(
    state: &AppState,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let mail = compose(message, &message.links());
    let email = match build(&config.from, &config.to, message.notification_id, &mail) {
        Ok(email) => email,
        Err(e) => return bad_config(e),
    };
    match config.transport {
        Transport::Ses => send_ses(&state.ses, &config, &email).await,
        Transport::Smtp => send_smtp(&config, email, state.config.provider_timeout).await,
    }
}

async fn send_ses(
    ses: &aws_sdk_sesv2::Client,
    config: &Config,
    email: &lettre::Message,
) -> DeliveryOutcome {
    let raw = match RawMessage::builder()
        .data(Blob::new(email.formatted()))
        .build()
    {
        Ok(raw) => raw,
        Err(e) => return bad_config(e),
    };
    let result = ses
        .send_email()
        .from_email_address(&config.from)
        .destination(
            Destination::builder()
                .set_to_addresses(Some(config.to.clone()))
                .build(),
        )
        .content(EmailContent::builder().raw(raw).build())
        .set_configuration_set_name(config.configuration_set.clone())
        .send()
        .await;
    match result {
        Ok(output) => DeliveryOutcome::Sent {
            provider_status: "SES accepted".to_owned(),
            provider_message_id: output.message_id().map(str::to_owned),
        },
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let code = error.code().unwrap_or("unknown").to_owned();
            let detail = error.message().unwrap_or_default().to_owned();
            let text = format!("SES answered {code}: {detail}")
                .trim_end_matches(": ")
                .to_owned();
            let provider_status = status.map(|s| format!("{s} {code}"));
            match status {
                Some(s) if s == 429 || s >= 500 || code == "TooManyRequestsException" => {
                    DeliveryOutcome::Transient {
                        error: text,
                        provider_status,
                        retry_after: None,
                    }
                }
                Some(_) => DeliveryOutcome::Permanent {
                    error: text,
                    provider_status,
                },
                // No answer at all: a timeout or connection failure.
                None => DeliveryOutcome::Transient {
                    error: format!(
                        "SES could not be reached: {}",
                        crate::error::error_chain(&error)
                    ),
                    provider_status: None,
                    retry_after: None,
                },
            }
        }
    }
}

async fn send_smtp(config: &Config, email: lettre::Message, timeout: Duration) -> DeliveryOutcome {
    let Some(host) = config.host.as_deref() else {
        return bad_config("host is required for SMTP");
    };
    let builder = match config.security {
        Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    };
    let mut builder = match builder {
        Ok(builder) => builder.timeout(Some(timeout)),
        Err(e) => return bad_config(e),
    };
    if let Some(port) = config.port {
        builder = builder.port(port);
    }
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
    }
    match builder.build().send(email).await {
        Ok(response) => DeliveryOutcome::Sent {
            provider_status: format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )
            .chars()
            .take(200)
            .collect(),
            provider_message_id: None,
        },
        Err(error) => {
            let text = format!(
                "the SMTP server refused: {}",
                crate::error::error_chain(&error)
            );
            let provider_status = error.status().map(|code| code.to_string());
            if error.is_permanent() {
                DeliveryOutcome::Permanent {
                    error: text,
                    provider_status,
                }
            } else {
                // 4yz replies, timeouts, refused connections, TLS hiccups.
                DeliveryOutcome::Transient {
                    error: text,
                    provider_status,
                    retry_after: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_mime_message_has_a_text_and_an_html_part() {
        let mail = Mail {
            subject: "[CRITICAL] Triggered: Disk full".to_owned(),
            text: "Disk full\n".to_owned(),
            html: "<p>Disk full</p>".to_owned(),
        };
        let id = uuid::Uuid::nil();
        let email = build(
            "Tocsin <alerts@example.com>",
            &["oncall@example.com".to_owned()],
            id,
            &mail,
        )
        .unwrap();
        let raw = String::from_utf8(email.formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains(&format!("Message-ID: <{id}@tocsin>")), "{raw}");
        assert!(build("not an address", &[], id, &mail).is_err());
    }
}
