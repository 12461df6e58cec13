//! A person's contact methods and channel tiers (seed 001 ChannelEscalationConfig). A
//! contact method is an address of one kind (an email address, a phone number, an ntfy
//! topic, a Slack member id, a Telegram chat); the tiers say which kinds are tried first
//! (primary, together), when those all failed (secondary) and last (fallback).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::incidents::{ChannelTier, user_channel_tiers};
use crate::notify::ChannelKind;

/// Most channel kinds in one tier.
pub const MAX_TIER_KINDS: usize = 9;
/// Longest address, in characters.
pub const MAX_ADDRESS: usize = 500;

/// A way to reach a person, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactMethodView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: ChannelKind,
    pub address: String,
    /// When the person confirmed the address; absent until then.
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A contact method to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewContactMethod {
    /// email, sms, voice, push, slack or telegram.
    pub kind: ChannelKind,
    /// An email address; an E.164 phone number (sms, voice); an ntfy topic (push); a
    /// Slack member or channel id (slack); a numeric chat id or @username (telegram).
    pub address: String,
}

/// A person's channel kinds by tier. Each kind is in one tier at most.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelTiers {
    /// Tried first, all together.
    #[serde(default)]
    pub primary: Vec<ChannelKind>,
    /// Tried when every primary channel failed.
    #[serde(default)]
    pub secondary: Vec<ChannelKind>,
    /// Tried last.
    #[serde(default)]
    pub fallback: Vec<ChannelKind>,
}

/// A person's channel tiers as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelTiersView {
    pub primary: Vec<ChannelKind>,
    pub secondary: Vec<ChannelKind>,
    pub fallback: Vec<ChannelKind>,
    /// True when the person set none and these are the defaults (email, Slack and push;
    /// then SMS; then voice).
    pub default: bool,
}

/// The API name of a kind.
fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Email => "email",
        ChannelKind::Sms => "sms",
        ChannelKind::Push => "push",
        ChannelKind::Slack => "slack",
        ChannelKind::Teams => "teams",
        ChannelKind::Voice => "voice",
        ChannelKind::Telegram => "telegram",
        ChannelKind::Discord => "discord",
        ChannelKind::Webhook => "webhook",
    }
}

/// Whether a kind reaches one person (webhooks and Discord reach a system or a room).
fn person_addressable(kind: ChannelKind) -> bool {
    !matches!(kind, ChannelKind::Webhook | ChannelKind::Discord)
}

/// A phone number in E.164 form (`^\+[1-9][0-9]{6,14}$`).
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.chars().all(|c| c.is_ascii_digit())
    })
}

/// An ntfy topic: 1 to 64 of `A-Z a-z 0-9 _ -`.
fn is_ntfy_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Slack member or conversation id: 9 to 11 upper-case letters and digits, starting
/// with U or W (people), C, G or D (channels, groups, direct messages).
fn is_slack_id(id: &str) -> bool {
    (9..=11).contains(&id.len())
        && id.starts_with(['U', 'W', 'C', 'G', 'D'])
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A Telegram chat: a numeric id (negative for groups) or a @username of 5 to 32
/// letters, digits and underscores.
fn is_telegram_chat(chat: &str) -> bool {
    let digits = chat.strip_prefix('-').unwrap_or(chat);
    let numeric =
        !digits.is_empty() && digits.len() <= 19 && digits.chars().all(|c| c.is_ascii_digit());
    let username = chat.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    numeric || username
}

/// Checks that `kind` is one a person is reached by, and `address` an address of that
/// kind; returns the address trimmed.
pub fn check_contact_method(kind: ChannelKind, address: &str) -> Result<String, ApiError> {
    match kind {
        ChannelKind::Teams => {
            return Err(ApiError::invalid_field(
                "kind",
                "Teams reaches people through their Teams connection, not a contact method",
            ));
        }
        ChannelKind::Webhook | ChannelKind::Discord => {
            return Err(ApiError::invalid_field(
                "kind",
                format!(
                    "{} is not person-addressable: add it as a notification channel",
                    kind_name(kind)
                ),
            ));
        }
        _ => {}
    }
    let address = address.trim();
    if address.is_empty() || address.chars().count() > MAX_ADDRESS {
        return Err(ApiError::invalid_field(
            "address",
            format!("address must be 1 to {MAX_ADDRESS} characters"),
        ));
    }
    let (valid, expected) = match kind {
        ChannelKind::Email => (
            address.contains('@') && address.parse::<lettre::message::Mailbox>().is_ok(),
            "an email address such as ann@example.com",
        ),
        ChannelKind::Sms | ChannelKind::Voice => (
            is_e164(address),
            "a phone number in E.164 form, such as +15005550006",
        ),
        ChannelKind::Push => (
            is_ntfy_topic(address),
            "an ntfy topic: 1 to 64 letters, digits, _ or -",
        ),
        ChannelKind::Slack => (
            is_slack_id(address),
            "a Slack member or channel id such as U0123ABCD",
        ),
        ChannelKind::Telegram => (
            is_telegram_chat(address),
            "a numeric Telegram chat id or a @username",
        ),
        ChannelKind::Teams | ChannelKind::Webhook | ChannelKind::Discord => (false, ""),
    };
    if !valid {
        return Err(ApiError::invalid_field(
            "address",
            format!("for {}, address must be {expected}", kind_name(kind)),
        ));
    }
    Ok(address.to_owned())
}

/// Checks a replacement of a person's tiers: at least one kind, at most nine a tier,
/// each kind once and person-addressable, naming the entry at fault (`secondary[0]`).
pub fn check_tiers(tiers: &ChannelTiers) -> Result<(), ApiError> {
    let lists = [
        ("primary", &tiers.primary),
        ("secondary", &tiers.secondary),
        ("fallback", &tiers.fallback),
    ];
    if lists.iter().all(|(_, kinds)| kinds.is_empty()) {
        return Err(ApiError::invalid_field(
            "primary",
            "give at least one channel",
        ));
    }
    let mut seen: Vec<(ChannelKind, &str)> = Vec::new();
    for (tier, kinds) in lists {
        if kinds.len() > MAX_TIER_KINDS {
            return Err(ApiError::invalid_field(
                tier,
                format!("{tier} holds at most {MAX_TIER_KINDS} channels"),
            ));
        }
        for (index, &kind) in kinds.iter().enumerate() {
            let field = format!("{tier}[{index}]");
            if !person_addressable(kind) {
                return Err(ApiError::invalid_field(
                    field,
                    format!("{} does not reach a person", kind_name(kind)),
                ));
            }
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
                return Err(ApiError::invalid_field(
                    field,
                    format!(
                        "{} is already in {first}: a channel may be in one tier only",
                        kind_name(kind)
                    ),
                ));
            }
            seen.push((kind, tier));
        }
    }
    Ok(())
}

fn user_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no user has the id {id}"))
}

/// 404 unless `user_id` is a person of the workspace.
pub async fn ensure_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        "SELECT id FROM app_user WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|_| ())
    .ok_or_else(|| user_not_found(user_id))
}

/// A page of a person's contact methods, oldest first, after the method `after`.
pub async fn list_contact_methods(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ContactMethodView>, ApiError> {
    ensure_user(conn, workspace_id, user_id).await?;
    Ok(sqlx::query_as!(
        ContactMethodView,
        r#"SELECT id, user_id, kind AS "kind: ChannelKind", address, verified_at, created_at
           FROM contact_method
           WHERE user_id = $1
             AND ($2::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM contact_method
                                                          WHERE id = $2 AND user_id = $1))
           ORDER BY created_at, id
           LIMIT $3"#,
        user_id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Adds a contact method to a person of the workspace.
pub async fn insert_contact_method(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    new: &NewContactMethod,
) -> Result<ContactMethodView, ApiError> {
    ensure_user(conn, workspace_id, user_id).await?;
    let address = check_contact_method(new.kind, &new.address)?;
    sqlx::query_as!(
        ContactMethodView,
        r#"INSERT INTO contact_method (user_id, kind, address)
           VALUES ($1, $2, $3)
           RETURNING id, user_id, kind AS "kind: ChannelKind", address, verified_at, created_at"#,
        user_id,
        new.kind as ChannelKind,
        address,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        ApiError::from_unique_violation(
            e,
            &[(
                "contact_method_user_kind_address_key",
                "address",
                "this person already has this address for this kind",
            )],
        )
    })
}

/// Removes one of a person's contact methods.
pub async fn delete_contact_method(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    ensure_user(conn, workspace_id, user_id).await?;
    let deleted = sqlx::query!(
        "DELETE FROM contact_method WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(format!(
            "this user has no contact method with the id {id}"
        )));
    }
    Ok(())
}

/// A person's channel tiers: the stored ones, or the defaults when they set none.
pub async fn get_channel_tiers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<ChannelTiersView, ApiError> {
    ensure_user(conn, workspace_id, user_id).await?;
    let stored = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM user_channel_tier WHERE user_id = $1) AS "stored!""#,
        user_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut view = ChannelTiersView {
        primary: Vec::new(),
        secondary: Vec::new(),
        fallback: Vec::new(),
        default: !stored,
    };
    for (tier, kind) in user_channel_tiers(conn, workspace_id, user_id).await? {
        match tier {
            ChannelTier::Primary => view.primary.push(kind),
            ChannelTier::Secondary => view.secondary.push(kind),
            ChannelTier::Fallback => view.fallback.push(kind),
        }
    }
    Ok(view)
}

/// Replaces a person's channel tiers, in the caller's transaction.
pub async fn replace_channel_tiers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    tiers: &ChannelTiers,
) -> Result<ChannelTiersView, ApiError> {
    // Locking the person's row makes concurrent replacements queue rather than collide.
    sqlx::query_scalar!(
        "SELECT id FROM app_user WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
        workspace_id,
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| user_not_found(user_id))?;
    check_tiers(tiers)?;
    sqlx::query!("DELETE FROM user_channel_tier WHERE user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    let rows = [
        (ChannelTier::Primary, &tiers.primary),
        (ChannelTier::Secondary, &tiers.secondary),
        (ChannelTier::Fallback, &tiers.fallback),
    ];
    for (tier, kinds) in rows {
        for &kind in kinds {
            sqlx::query!(
                "INSERT INTO user_channel_tier (user_id, tier, channel) VALUES ($1, $2, $3)",
                user_id,
                tier as ChannelTier,
                kind as ChannelKind,
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    get_channel_tiers(conn, workspace_id, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: ChannelKind, address: &str) -> Option<String> {
        check_contact_method(kind, address)
            .err()
            .and_then(|e| e.problem().field)
    }

    #[test]
    fn addresses_are_checked_for_their_kind() {
        for (kind, good) in [
            (ChannelKind::Email, "ann@example.com"),
            (ChannelKind::Email, "Ann <ann@example.com>"),
            (ChannelKind::Sms, "+351912345678"),
            (ChannelKind::Voice, "+15005550006"),
            (ChannelKind::Push, "ann_on-call"),
            (ChannelKind::Slack, "U0123ABCD"),
            (ChannelKind::Slack, "W0123ABCDEF"),
            (ChannelKind::Telegram, "123456789"),
            (ChannelKind::Telegram, "-1001234567890"),
            (ChannelKind::Telegram, "@ann_oncall"),
        ] {
            assert_eq!(field(kind, good), None, "{kind:?} {good}");
        }
        for (kind, bad) in [
            (ChannelKind::Email, "ann.example.com"),
            (ChannelKind::Sms, "912345678"),
            (ChannelKind::Sms, "+0912345678"),
            (ChannelKind::Voice, "+12345"),
            (ChannelKind::Push, "a topic"),
            (ChannelKind::Slack, "u0123abcd"),
            (ChannelKind::Slack, "X0123ABCD"),
            (ChannelKind::Slack, "U0123"),
            (ChannelKind::Telegram, "@ann"),
            (ChannelKind::Telegram, "-"),
            (ChannelKind::Email, "   "),
        ] {
            assert_eq!(
                field(kind, bad).as_deref(),
                Some("address"),
                "{kind:?} {bad}"
            );
        }
        for kind in [
            ChannelKind::Teams,
            ChannelKind::Webhook,
            ChannelKind::Discord,
        ] {
            assert_eq!(field(kind, "anything").as_deref(), Some("kind"));
        }
    }

    #[test]
    fn a_kind_is_in_one_tier_only() {
        let field = |tiers: ChannelTiers| check_tiers(&tiers).err().and_then(|e| e.problem().field);
        assert_eq!(field(ChannelTiers::default()).as_deref(), Some("primary"));
        assert_eq!(
            field(ChannelTiers {
                primary: vec![ChannelKind::Email, ChannelKind::Sms],
                secondary: vec![ChannelKind::Sms],
                fallback: vec![],
            })
            .as_deref(),
            Some("secondary[0]")
        );
        assert_eq!(
            field(ChannelTiers {
                primary: vec![],
                secondary: vec![],
                fallback: vec![ChannelKind::Voice, ChannelKind::Webhook],
            })
            .as_deref(),
            Some("fallback[1]")
        );
        assert_eq!(
            field(ChannelTiers {
                primary: vec![ChannelKind::Email, ChannelKind::Teams],
                secondary: vec![ChannelKind::Sms],
                fallback: vec![ChannelKind::Voice],
            }),
            None
        );
    }
}
