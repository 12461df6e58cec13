//! Magic links: one-time links that acknowledge or resolve one incident as the person they
//! were sent to. The token is 256 random bits from the operating system's CSPRNG, shown
//! only in the link; the database keeps its SHA-256. Opening the link (`GET`) only shows
//! a confirmation page, so mail scanners that open every link change nothing; the action
//! happens on the page's `POST`, which consumes the token with one conditional UPDATE, so
//! concurrent clicks act once.

use chrono::{DateTime, Duration, Utc};
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::incidents::MagicLinkAction;

/// SHA-256 (hex) of a token: what `magic_link_token.token_hash` holds.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token: 32 bytes from the OS, base64url without padding (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0_u8; 32];
    // The OS generator failing is not something to carry on from.
    #[allow(clippy::expect_used)]
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` has the shape of one of ours (checked before any lookup).
pub fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The link for a token, under the public base URL.
pub fn link(base_url: &str, token: &str) -> String {
    format!("{}/a/{token}", base_url.trim_end_matches('/'))
}

/// Issues a link token for `action` on an incident, for `user_id` (the recipient; none for
/// a channel's shared audience), valid for `ttl`. Returns the token, to put in the link.
pub async fn issue(
    conn: &mut PgConnection,
    incident_id: Uuid,
    user_id: Option<Uuid>,
    action: MagicLinkAction,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let token = new_token();
    sqlx::query!(
        "INSERT INTO magic_link_token (token_hash, incident_id, user_id, action, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5::float8 * interval '1 second')",
        token_hash(&token),
        incident_id,
        user_id,
        action as MagicLinkAction,
        ttl.num_seconds() as f64,
    )
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// What a link is about, for its confirmation page.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub incident_id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Option<Uuid>,
    pub action: MagicLinkAction,
    pub incident_title: String,
    pub used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// Looks a token up without changing anything.
pub async fn peek(conn: &mut PgConnection, token: &str) -> Result<Option<LinkInfo>, sqlx::Error> {
    if !well_formed(token) {
        return Ok(None);
    }
    sqlx::query_as!(
        LinkInfo,
        r#"SELECT t.incident_id, i.workspace_id, t.user_id, t.action AS "action: MagicLinkAction",
                  i.title AS incident_title, t.used_at, t.expires_at
           FROM magic_link_token t JOIN incident i ON i.id = t.incident_id
           WHERE t.token_hash = $1"#,
        token_hash(token),
    )
    .fetch_optional(&mut *conn)
    .await
}

/// What consuming a token found.
#[derive(Debug, Clone)]
pub enum Consumed {
    /// This request used the token: act on the incident.
    Fresh(LinkInfo),
    /// Used before (by this person or a concurrent click).
    Used(LinkInfo),
    /// Past its expiry.
    Expired(LinkInfo),
    /// No such token.
    Unknown,
}

/// Uses a token: one conditional UPDATE, so of concurrent uses exactly one gets
/// [`Consumed::Fresh`]. Runs in the caller's transaction, with the action it enables.
pub async fn consume(conn: &mut PgConnection, token: &str) -> Result<Consumed, sqlx::Error> {
    if !well_formed(token) {
        return Ok(Consumed::Unknown);
    }
    let used = sqlx::query_scalar!(
        "UPDATE magic_link_token SET used = true, used_at = now()
         WHERE token_hash = $1 AND NOT used AND expires_at > now()
         RETURNING id",
        token_hash(token),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(info) = peek(conn, token).await? else {
        return Ok(Consumed::Unknown);
    };
    Ok(match used {
        Some(_) => Consumed::Fresh(info),
        None if info.used_at.is_some() => Consumed::Used(info),
        None => Consumed::Expired(info),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_url_safe_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}=", &a[..42])));
    }
}
