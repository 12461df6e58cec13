//! Rate limits per provider destination, shared by every worker through PostgreSQL.
//!
//! Each destination (a Telegram chat, a bot, a Slack channel, a Twilio number) has a row
//! in `rate_limit_slot` holding when its next message may go. Sending reserves the next
//! slot of every limit the message falls under and moves each on by its interval, in one
//! transaction that locks the rows in key order, so concurrent workers get distinct slots
//! and a burst is spread out instead of meeting the provider's 429s. A slot further away
//! than the worker is willing to wait is not taken: the message goes back to the queue
//! until then.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::ChannelKind;

/// At most one message every `interval` to the destination named by `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub key: String,
    pub interval: Duration,
}

impl Limit {
    fn per_second(key: String, rate: f64) -> Self {
        Self {
            key,
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }
}

/// What the reservation decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// A slot is reserved: send after waiting this long.
    Go { wait: Duration },
    /// The next slot is too far away: try again after this long (nothing was reserved).
    Later { delay: Duration },
}

/// Identifies a secret-bearing destination (a webhook URL, a token) without the secret.
fn fingerprint(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..8])
}

/// The limits a message to this channel falls under, from the providers' documented
/// limits: Telegram about 1 message a second per chat (20 a minute in groups) and 30 a
/// second per bot; Slack 1 a second per channel or incoming webhook; Discord 5 per 2
/// seconds per webhook; Teams 4 a second per webhook; Twilio 1 message a second per
/// sending number and 1 call a second per account. A webhook channel can set its own
/// `max_per_second`.
pub fn limits(kind: ChannelKind, config: &Value) -> Vec<Limit> {
    let text = |field: &str| config.get(field).and_then(Value::as_str);
    match kind {
        ChannelKind::Telegram => {
            let (Some(token), Some(chat)) = (text("bot_token"), text("chat_id")) else {
                return Vec::new();
            };
            let bot = token.split(':').next().unwrap_or_default();
            let chat_rate = if chat.starts_with('-') {
                20.0 / 60.0
            } else {
                1.0
            };
            vec![
                Limit::per_second(format!("telegram:{bot}"), 30.0),
                Limit::per_second(format!("telegram:{bot}:chat:{chat}"), chat_rate),
            ]
        }
        ChannelKind::Slack => match (text("webhook_url"), text("bot_token"), text("channel")) {
            (Some(url), _, _) => vec![Limit::per_second(
                format!("slack:webhook:{}", fingerprint(url)),
                1.0,
            )],
            (None, Some(token), Some(channel)) => vec![Limit::per_second(
                format!("slack:{}:channel:{channel}", fingerprint(token)),
                1.0,
            )],
            _ => Vec::new(),
        },
        ChannelKind::Discord => text("webhook_url")
            .map(|url| {
                vec![Limit::per_second(
                    format!("discord:{}", fingerprint(url)),
                    2.5,
                )]
            })
            .unwrap_or_default(),
        ChannelKind::Teams => text("webhook_url")
            .map(|url| {
                vec![Limit::per_second(
                    format!("teams:{}", fingerprint(url)),
                    4.0,
                )]
            })
            .unwrap_or_default(),
        ChannelKind::Sms => {
            let account = text("account_sid").unwrap_or_default();
            text("from")
                .or(text("messaging_service_sid"))
                .map(|from| {
                    vec![Limit::per_second(
                        format!("twilio:{account}:from:{from}"),
                        1.0,
                    )]
                })
                .unwrap_or_default()
        }
        ChannelKind::Voice => text("account_sid")
            .map(|account| vec![Limit::per_second(format!("twilio:{account}:calls"), 1.0)])
            .unwrap_or_default(),
        ChannelKind::Webhook => match (
            text("url"),
            config.get("max_per_second").and_then(Value::as_f64),
        ) {
            (Some(url), Some(rate)) if rate > 0.0 => vec![Limit::per_second(
                format!("webhook:{}", fingerprint(url)),
                rate,
            )],
            _ => Vec::new(),
        },
        ChannelKind::Email | ChannelKind::Push => Vec::new(),
    }
}

/// Reserves the next slot of every limit, unless it is more than `max_wait` away.
pub async fn reserve(
    db: &PgPool,
    limits: &[Limit],
    max_wait: Duration,
) -> Result<Pace, sqlx::Error> {
    if limits.is_empty() {
        return Ok(Pace::Go {
            wait: Duration::ZERO,
        });
    }
    let keys: Vec<String> = limits.iter().map(|l| l.key.clone()).collect();
    let intervals: Vec<f64> = limits.iter().map(|l| l.interval.as_secs_f64()).collect();
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO rate_limit_slot (key, next_slot_at)
         SELECT key, now() FROM unnest($1::text[]) AS key ORDER BY key
         ON CONFLICT (key) DO NOTHING",
        &keys,
    )
    .execute(&mut *tx)
    .await?;
    // The rows are locked in key order, so two reservations never wait on each other in
    // a cycle; the slot is the latest of the destinations' next slots. The clock is read
    // after the locks are held (`now()` would be the transaction's start, before any
    // wait for them), so the wait is exact and paced messages do not bunch up.
    let slot = sqlx::query!(
        r#"WITH locked AS (
               SELECT next_slot_at FROM rate_limit_slot
               WHERE key = ANY($1) ORDER BY key FOR UPDATE
           )
           SELECT greatest(max(next_slot_at), clock_timestamp()) AS "slot!",
                  extract(epoch FROM greatest(max(next_slot_at), clock_timestamp())
                                     - clock_timestamp())::float8 AS "wait!"
           FROM locked"#,
        &keys,
    )
    .fetch_one(&mut *tx)
    .await?;
    let wait = Duration::from_secs_f64(slot.wait.max(0.0));
    if wait > max_wait {
        tx.rollback().await?;
        return Ok(Pace::Later { delay: wait });
    }
    sqlx::query!(
        "UPDATE rate_limit_slot r
         SET next_slot_at = $2::timestamptz + make_interval(secs => w.seconds)
         FROM unnest($1::text[], $3::float8[]) AS w(key, seconds)
         WHERE r.key = w.key",
        &keys,
        slot.slot,
        &intervals,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Pace::Go { wait })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn telegram_is_limited_per_bot_and_per_chat_without_the_token() {
        let limits = limits(
            ChannelKind::Telegram,
            &json!({"bot_token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", "chat_id": "-100123"}),
        );
        assert_eq!(limits[0].key, "telegram:123456789");
        assert_eq!(limits[1].key, "telegram:123456789:chat:-100123");
        assert_eq!(limits[1].interval, Duration::from_secs(3));
        assert!(limits.iter().all(|l| !l.key.contains("AAHdq")));
    }

    #[test]
    fn webhook_urls_are_fingerprinted() {
        let limits = limits(
            ChannelKind::Slack,
            &json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/secret"}),
        );
        assert_eq!(limits.len(), 1);
        assert!(!limits[0].key.contains("secret"));
    }
}
