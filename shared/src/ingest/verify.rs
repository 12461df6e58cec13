//! Proving a request comes from the integration's tool, before anything is parsed.
//!
//! - `hmac`: an HMAC (SHA-1, SHA-256 or SHA-512) of the raw body, hex or base64, in the
//!   integration's signature header, after an optional prefix (`sha256=`). With a
//!   timestamp header, the signed content is `{timestamp}.{body}` (`{timestamp}:{body}` for
//!   Grafana, as it signs) and the timestamp (Unix seconds) must be within the tolerance,
//!   in the past or the future.
//! - `standard_webhooks`: the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64>`), signed content `{id}.{timestamp}.{body}`, with a
//!   `whsec_` secret.
//! - `token`: for tools that cannot sign (Alertmanager, Datadog, New Relic): the secret as
//!   `Authorization: Bearer`, as the password of basic auth, or in the signature header.
//! - `none`: nothing to check (integrations made before secrets existed).
//!
//! Every comparison is constant-time. During a rotation's grace period the previous
//! secret verifies too.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// How an integration's requests are authenticated.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    None,
    Hmac,
    StandardWebhooks,
    Token,
}

impl Verification {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::None => "none",
            Verification::Hmac => "hmac",
            Verification::StandardWebhooks => "standard_webhooks",
            Verification::Token => "token",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::None, Self::Hmac, Self::StandardWebhooks, Self::Token]
            .into_iter()
            .find(|v| v.as_str() == name)
    }

    /// What a new integration of `kind` uses unless told otherwise: tools that sign get
    /// HMAC, the others a token.
    pub fn default_for(kind: &str) -> Self {
        match kind {
            "generic" | "grafana" | "sentry" => Verification::Hmac,
            _ => Verification::Token,
        }
    }
}

/// What verifying needs to know about the integration.
#[derive(Debug, Clone)]
pub struct VerificationConfig {
    pub verification: Verification,
    pub header: String,
    pub algorithm: String,
    pub format: String,
    pub prefix: Option<String>,
    pub timestamp_header: Option<String>,
    pub tolerance_seconds: i64,
    /// What joins the timestamp and the body in the signed content.
    pub timestamp_separator: &'static str,
}

/// The separator a tool puts between timestamp and body when it signs both.
pub fn timestamp_separator(kind: &str) -> &'static str {
    if kind == "grafana" { ":" } else { "." }
}

/// Checks `body` and `headers` against every secret that currently verifies.
pub fn verify(
    config: &VerificationConfig,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    match config.verification {
        Verification::None => Ok(()),
        Verification::Token => verify_token(config, secrets, headers),
        Verification::Hmac => verify_hmac(config, secrets, headers, body, now),
        Verification::StandardWebhooks => verify_standard_webhooks(secrets, headers, body, now),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn refused(detail: &str) -> ApiError {
    ApiError::unauthorized(detail.to_owned())
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn verify_token(
    config: &VerificationConfig,
    secrets: &[String],
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let presented = header(headers, "authorization")
        .and_then(|value| {
            let (scheme, rest) = value.split_once(' ')?;
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(rest.trim().to_owned())
            } else if scheme.eq_ignore_ascii_case("basic") {
                let decoded = BASE64.decode(rest.trim()).ok()?;
                let text = String::from_utf8(decoded).ok()?;
                Some(
                    text.split_once(':')
                        .map(|(_, password)| password.to_owned())
                        .unwrap_or(text),
                )
            } else {
                None
            }
        })
        .or_else(|| header(headers, &config.header).map(str::to_owned))
        .ok_or_else(|| refused("send the integration's token as Authorization: Bearer <token>"))?;
    if secrets
        .iter()
        .any(|secret| equal(secret.as_bytes(), presented.as_bytes()))
    {
        Ok(())
    } else {
        Err(refused("the integration's token is not valid"))
    }
}

fn mac(algorithm: &str, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
            // HMAC takes keys of any length; this branch cannot run.
            <M as hmac::digest::KeyInit>::new_from_slice(&[0]).expect("a one-byte key")
        });
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        "sha1" => run::<Hmac<sha1::Sha1>>(key, parts),
        "sha512" => run::<Hmac<sha2::Sha512>>(key, parts),
        _ => run::<Hmac<sha2::Sha256>>(key, parts),
    }
}

fn check_timestamp(raw: &str, tolerance_seconds: i64, now: DateTime<Utc>) -> Result<(), ApiError> {
    let timestamp: i64 = raw
        .parse()
        .map_err(|_| refused("the signature timestamp is not a Unix time in seconds"))?;
    if (now.timestamp() - timestamp).abs() > tolerance_seconds {
        return Err(refused(
            "the signature timestamp is outside the allowed window",
        ));
    }
    Ok(())
}

fn verify_hmac(
    config: &VerificationConfig,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let value = header(headers, &config.header).ok_or_else(|| {
        refused(&format!(
            "the {} header with the signature is missing",
            config.header
        ))
    })?;
    let value = match &config.prefix {
        Some(prefix) => value.strip_prefix(prefix.as_str()).unwrap_or(value),
        None => value,
    };
    let presented = if config.format == "base64" {
        BASE64.decode(value).ok()
    } else {
        hex::decode(value.to_ascii_lowercase()).ok()
    }
    .ok_or_else(|| refused("the signature is not encoded as the integration expects"))?;
    let timestamp = match &config.timestamp_header {
        Some(name) => {
            let raw = header(headers, name).ok_or_else(|| {
                refused(&format!("the {name} header with the timestamp is missing"))
            })?;
            check_timestamp(raw, config.tolerance_seconds, now)?;
            Some(raw.to_owned())
        }
        None => None,
    };
    let signed: Vec<&[u8]> = match &timestamp {
        Some(ts) => vec![ts.as_bytes(), config.timestamp_separator.as_bytes(), body],
        None => vec![body],
    };
    if secrets.iter().any(|secret| {
        equal(
            &mac(&config.algorithm, secret.as_bytes(), &signed),
            &presented,
        )
    }) {
        Ok(())
    } else {
        Err(refused("the signature does not match the body"))
    }
}

fn verify_standard_webhooks(
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let id =
        header(headers, "webhook-id").ok_or_else(|| refused("the webhook-id header is missing"))?;
    let timestamp = header(headers, "webhook-timestamp")
        .ok_or_else(|| refused("the webhook-timestamp header is missing"))?;
    let signatures = header(headers, "webhook-signature")
        .ok_or_else(|| refused("the webhook-signature header is missing"))?;
    check_timestamp(timestamp, 300, now)?;
    let signed: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    let presented: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| BASE64.decode(s).ok())
        .collect();
    let matches = secrets.iter().any(|secret| {
        let key = BASE64
            .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
            .unwrap_or_default();
        let expected = mac("sha256", &key, &signed);
        presented.iter().any(|p| equal(&expected, p))
    });
    if matches {
        Ok(())
    } else {
        Err(refused("no webhook-signature matches the body"))
    }
}

/// A new secret for an integration that verifies with `verification`.
pub fn generate_secret(verification: Verification) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    match verification {
        Verification::StandardWebhooks => format!("whsec_{}", BASE64.encode(bytes)),
        _ => hex::encode(bytes),
    }
}

/// A PagerDuty-style routing key: 32 hex digits (128 random bits), the length PagerDuty
/// requires, so tools that check it accept ours.
pub fn generate_routing_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The signature a sender computes (`separator` between timestamp and body): used by
/// tests and documented for users.
pub fn sign_hmac(
    algorithm: &str,
    secret: &str,
    timestamp: Option<(&str, &str)>,
    body: &[u8],
) -> Vec<u8> {
    match timestamp {
        Some((ts, separator)) => mac(
            algorithm,
            secret.as_bytes(),
            &[ts.as_bytes(), separator.as_bytes(), body],
        ),
        None => mac(algorithm, secret.as_bytes(), &[body]),
    }
}

/// The `webhook-signature` value a Standard Webhooks sender computes.
pub fn sign_standard_webhooks(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_default();
    let signature = mac(
        "sha256",
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config(verification: Verification) -> VerificationConfig {
        VerificationConfig {
            verification,
            header: "x-signature".to_owned(),
            algorithm: "sha256".to_owned(),
            format: "hex".to_owned(),
            prefix: Some("sha256=".to_owned()),
            timestamp_header: None,
            tolerance_seconds: 300,
            timestamp_separator: ".",
        }
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_standard_webhooks_published_example_verifies() {
        // From the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"test": 2432232314}"#;
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
            ("webhook-timestamp", "1614265330".to_owned()),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned(),
            ),
        ]);
        let at = DateTime::from_timestamp(1_614_265_330, 0).unwrap();
        let c = config(Verification::StandardWebhooks);
        assert!(verify(&c, std::slice::from_ref(&secret), &h, body, at).is_ok());
        assert!(
            verify(
                &c,
                std::slice::from_ref(&secret),
                &h,
                br#"{"test": 2432232315}"#,
                at
            )
            .is_err(),
            "tampered body"
        );
        let late = at + chrono::Duration::minutes(6);
        assert!(
            verify(&c, &[secret], &h, body, late).is_err(),
            "old timestamp"
        );
    }

    #[test]
    fn hmac_accepts_the_right_signature_with_any_current_secret() {
        let body = b"{\"title\":\"x\"}";
        let signature = format!(
            "sha256={}",
            hex::encode(sign_hmac("sha256", "new", None, body))
        );
        let h = headers(&[("x-signature", signature)]);
        let c = config(Verification::Hmac);
        let now = Utc::now();
        assert!(
            verify(&c, &["old".into(), "new".into()], &h, body, now).is_ok(),
            "rotation grace"
        );
        assert!(
            verify(&c, &["old".into()], &h, body, now).is_err(),
            "wrong secret"
        );
        assert!(
            verify(&c, &["new".into()], &h, b"{\"title\":\"y\"}", now).is_err(),
            "tampered"
        );
        assert!(
            verify(&c, &["new".into()], &HeaderMap::new(), body, now).is_err(),
            "missing"
        );
    }

    #[test]
    fn signed_timestamps_outside_the_tolerance_are_refused() {
        let mut c = config(Verification::Hmac);
        c.timestamp_header = Some("x-timestamp".to_owned());
        c.algorithm = "sha512".to_owned();
        c.format = "base64".to_owned();
        c.prefix = None;
        let body = b"{}";
        let now = Utc::now();
        for (offset, ok) in [(0, true), (-299, true), (-301, false), (301, false)] {
            let ts = (now.timestamp() + offset).to_string();
            let signature = BASE64.encode(sign_hmac("sha512", "k", Some((&ts, ".")), body));
            let h = headers(&[("x-signature", signature), ("x-timestamp", ts)]);
            assert_eq!(
                verify(&c, &["k".into()], &h, body, now).is_ok(),
                ok,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn tokens_come_as_bearer_basic_or_header() {
        let c = config(Verification::Token);
        let now = Utc::now();
        let secret = vec!["t0ken".to_owned()];
        let basic = BASE64.encode("alertmanager:t0ken");
        for h in [
            headers(&[("authorization", "Bearer t0ken".to_owned())]),
            headers(&[("authorization", format!("Basic {basic}"))]),
            headers(&[("x-signature", "t0ken".to_owned())]),
        ] {
            assert!(verify(&c, &secret, &h, b"", now).is_ok(), "{h:?}");
        }
        let wrong = headers(&[("authorization", "Bearer t0kem".to_owned())]);
        assert!(verify(&c, &secret, &wrong, b"", now).is_err());
        assert!(verify(&c, &secret, &HeaderMap::new(), b"", now).is_err());
    }
}
