//! Services and escalation policies (seed 001). A service groups incidents and may name
//! the team that owns it and the escalation policy that says who hears of its incidents.
//! A policy is an ordered list of levels: each names people and notification channels,
//! and how long to wait for an acknowledgement before the next level is notified.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// Most levels a policy has.
pub const MAX_LEVELS: usize = 20;
/// Most targets a level has.
pub const MAX_TARGETS: usize = 20;
/// Longest wait before the next level, in minutes (a day).
pub const MAX_DELAY_MINUTES: i32 = 1440;
/// Most times a policy runs through its levels again.
pub const MAX_REPEAT_COUNT: i32 = 10;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 2000;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A service as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// The team that owns the service.
    pub team_id: Option<Uuid>,
    /// Who hears of the service's incidents, level by level; without a policy, every
    /// enabled channel of the workspace.
    pub escalation_policy_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A service to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewService {
    /// 1 to 200 characters, unique in the workspace.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// A team of the workspace.
    pub team_id: Option<Uuid>,
    /// An escalation policy of the workspace.
    pub escalation_policy_id: Option<Uuid>,
}

/// Changes to a service; absent fields stay as they are, and `null` clears
/// `description`, `team_id` or `escalation_policy_id`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ServicePatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub team_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub escalation_policy_id: Option<Option<Uuid>>,
}

/// Whom a level notifies: a person of the workspace (through their channel tiers and
/// contact methods) or one of its notification channels. Exactly one of the two is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct EscalationTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_channel_id: Option<Uuid>,
}

/// A level of a policy to create; its number is its position in `levels`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewEscalationLevel {
    /// Minutes to wait for an acknowledgement before the next level, 0 to 1440.
    pub delay_minutes: i32,
    /// 1 to 20 people or channels, notified together.
    pub targets: Vec<EscalationTarget>,
}

/// A level of a policy as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalationLevelView {
    /// 1 for the first level.
    pub level: i32,
    /// Minutes to wait for an acknowledgement before the next level.
    pub delay_minutes: i32,
    /// In the order they were given.
    pub targets: Vec<EscalationTarget>,
}

/// An escalation policy as the API shows it, with its levels in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicyView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// How many times the levels are run through again while the incident stays
    /// unacknowledged.
    pub repeat_count: i32,
    pub levels: Vec<EscalationLevelView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An escalation policy to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewEscalationPolicy {
    /// 1 to 200 characters, unique in the workspace.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// 0 to 10 (default 0).
    pub repeat_count: Option<i32>,
    /// 1 to 20 levels; the first is level 1.
    pub levels: Vec<NewEscalationLevel>,
}

/// Changes to a policy; absent fields stay as they are. `levels`, when given, replaces
/// every level.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EscalationPolicyPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub repeat_count: Option<i32>,
    pub levels: Option<Vec<NewEscalationLevel>>,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// A trimmed description; blank is none.
fn check_description(description: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(description) = description.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid_field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(Some(description.to_owned()))
}

fn check_repeat_count(repeat_count: i32) -> Result<i32, ApiError> {
    if (0..=MAX_REPEAT_COUNT).contains(&repeat_count) {
        Ok(repeat_count)
    } else {
        Err(ApiError::invalid_field(
            "repeat_count",
            format!("repeat_count must be from 0 to {MAX_REPEAT_COUNT}"),
        ))
    }
}

async fn check_team(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    team_id: Option<Uuid>,
) -> Result<(), ApiError> {
    let Some(team_id) = team_id else {
        return Ok(());
    };
    let found = sqlx::query_scalar!(
        "SELECT id FROM team WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        team_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "team_id",
            "no team of this workspace has this id",
        )),
    }
}

async fn check_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    policy_id: Option<Uuid>,
) -> Result<(), ApiError> {
    let Some(policy_id) = policy_id else {
        return Ok(());
    };
    let found = sqlx::query_scalar!(
        "SELECT id FROM escalation_policy WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        policy_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "escalation_policy_id",
            "no escalation policy of this workspace has this id",
        )),
    }
}

fn service_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no service has the id {id}"))
}

fn service_name_taken(error: sqlx::Error) -> ApiError {
    ApiError::from_unique_violation(
        error,
        &[(
            "service_workspace_name_key",
            "name",
            "a service with this name already exists",
        )],
    )
}

/// Creates a service.
pub async fn insert_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    new: &NewService,
) -> Result<ServiceView, ApiError> {
    let name = check_name(&new.name)?;
    let description = check_description(new.description.as_deref())?;
    check_team(conn, workspace_id, new.team_id).await?;
    check_policy(conn, workspace_id, new.escalation_policy_id).await?;
    sqlx::query_as!(
        ServiceView,
        "INSERT INTO service (workspace_id, name, description, team_id, escalation_policy_id)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, name, description, team_id, escalation_policy_id, created_at, updated_at",
        workspace_id,
        name,
        description,
        new.team_id,
        new.escalation_policy_id,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(service_name_taken)
}

/// One of the workspace's services.
pub async fn get_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<ServiceView, ApiError> {
    select_services(conn, workspace_id, Some(id), None, 1)
        .await?
        .pop()
        .ok_or_else(|| service_not_found(id))
}

/// A page of the workspace's services, oldest first, after the service `after`.
pub async fn list_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ServiceView>, ApiError> {
    select_services(conn, workspace_id, None, after, limit).await
}

async fn select_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ServiceView>, ApiError> {
    Ok(sqlx::query_as!(
        ServiceView,
        r#"SELECT id, name, description, team_id, escalation_policy_id, created_at, updated_at
           FROM service
           WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id = $2)
             AND ($3::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM service
                                                          WHERE id = $3 AND workspace_id = $1))
           ORDER BY created_at, id
           LIMIT $4"#,
        workspace_id,
        id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Applies `patch` to one of the workspace's services.
pub async fn update_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &ServicePatch,
) -> Result<ServiceView, ApiError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let (set_description, description) = match &patch.description {
        None => (false, None),
        Some(description) => (true, check_description(description.as_deref())?),
    };
    let (set_team, team_id) = match patch.team_id {
        None => (false, None),
        Some(team_id) => (true, team_id),
    };
    let (set_policy, policy_id) = match patch.escalation_policy_id {
        None => (false, None),
        Some(policy_id) => (true, policy_id),
    };
    check_team(conn, workspace_id, team_id).await?;
    check_policy(conn, workspace_id, policy_id).await?;
    sqlx::query_as!(
        ServiceView,
        r#"UPDATE service SET
               name = coalesce($3, name),
               description = CASE WHEN $4::boolean THEN $5::text ELSE description END,
               team_id = CASE WHEN $6::boolean THEN $7::uuid ELSE team_id END,
               escalation_policy_id = CASE WHEN $8::boolean THEN $9::uuid ELSE escalation_policy_id END,
               updated_at = now()
           WHERE workspace_id = $1 AND id = $2
           RETURNING id, name, description, team_id, escalation_policy_id, created_at, updated_at"#,
        workspace_id,
        id,
        name,
        set_description,
        description,
        set_team,
        team_id,
        set_policy,
        policy_id,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(service_name_taken)?
    .ok_or_else(|| service_not_found(id))
}

/// Deletes one of the workspace's services; its incidents and alerts stay, without it.
pub async fn delete_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let deleted = sqlx::query!(
        "DELETE FROM service WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(service_not_found(id));
    }
    Ok(())
}

fn policy_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no escalation policy has the id {id}"))
}

fn policy_name_taken(error: sqlx::Error) -> ApiError {
    ApiError::from_unique_violation(
        error,
        &[(
            "escalation_policy_workspace_name_key",
            "name",
            "an escalation policy with this name already exists",
        )],
    )
}

/// Checks the levels' shape, then that every target is a person or a notification
/// channel of the workspace, naming the field at fault (`levels[1].targets[0].user_id`).
async fn check_levels(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    levels: &[NewEscalationLevel],
) -> Result<(), ApiError> {
    if levels.is_empty() || levels.len() > MAX_LEVELS {
        return Err(ApiError::invalid_field(
            "levels",
            format!("levels must hold 1 to {MAX_LEVELS} levels"),
        ));
    }
    for (i, level) in levels.iter().enumerate() {
        if !(0..=MAX_DELAY_MINUTES).contains(&level.delay_minutes) {
            return Err(ApiError::invalid_field(
                format!("levels[{i}].delay_minutes"),
                format!("delay_minutes must be from 0 to {MAX_DELAY_MINUTES}"),
            ));
        }
        if level.targets.is_empty() || level.targets.len() > MAX_TARGETS {
            return Err(ApiError::invalid_field(
                format!("levels[{i}].targets"),
                format!("targets must hold 1 to {MAX_TARGETS} people or channels"),
            ));
        }
        let mut seen = HashSet::new();
        for (j, target) in level.targets.iter().enumerate() {
            match (target.user_id, target.notification_channel_id) {
                (Some(_), None) | (None, Some(_)) => {}
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_field(
                        format!("levels[{i}].targets[{j}]"),
                        "a target is either a user_id or a notification_channel_id, not both",
                    ));
                }
                (None, None) => {
                    return Err(ApiError::invalid_field(
                        format!("levels[{i}].targets[{j}]"),
                        "a target needs a user_id or a notification_channel_id",
                    ));
                }
            }
            if !seen.insert(*target) {
                return Err(ApiError::invalid_field(
                    format!("levels[{i}].targets[{j}]"),
                    "this target is already in the level",
                ));
            }
        }
    }

    let user_ids: Vec<Uuid> = levels
        .iter()
        .flat_map(|l| &l.targets)
        .filter_map(|t| t.user_id)
        .collect();
    let channel_ids: Vec<Uuid> = levels
        .iter()
        .flat_map(|l| &l.targets)
        .filter_map(|t| t.notification_channel_id)
        .collect();
    let known_users: HashSet<Uuid> = if user_ids.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar!(
            "SELECT id FROM app_user WHERE workspace_id = $1 AND id = ANY($2)",
            workspace_id,
            &user_ids,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    let known_channels: HashSet<Uuid> = if channel_ids.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar!(
            "SELECT id FROM notification_channel WHERE workspace_id = $1 AND id = ANY($2)",
            workspace_id,
            &channel_ids,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    for (i, level) in levels.iter().enumerate() {
        for (j, target) in level.targets.iter().enumerate() {
            if let Some(user_id) = target.user_id
                && !known_users.contains(&user_id)
            {
                return Err(ApiError::invalid_field(
                    format!("levels[{i}].targets[{j}].user_id"),
                    format!("no user of this workspace has the id {user_id}"),
                ));
            }
            if let Some(channel_id) = target.notification_channel_id
                && !known_channels.contains(&channel_id)
            {
                return Err(ApiError::invalid_field(
                    format!("levels[{i}].targets[{j}].notification_channel_id"),
                    format!("no notification channel of this workspace has the id {channel_id}"),
                ));
            }
        }
    }
    Ok(())
}

/// Writes a policy's levels (checked) and their targets: level numbers from 1, and
/// target positions from 0, in the order given.
async fn insert_levels(
    conn: &mut PgConnection,
    policy_id: Uuid,
    levels: &[NewEscalationLevel],
) -> Result<(), ApiError> {
    let mut level_ids = Vec::with_capacity(levels.len());
    let mut numbers = Vec::with_capacity(levels.len());
    let mut delays = Vec::with_capacity(levels.len());
    let (mut target_levels, mut users, mut channels, mut positions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (number, level) in (1_i32..).zip(levels) {
        let level_id = Uuid::new_v4();
        level_ids.push(level_id);
        numbers.push(number);
        delays.push(level.delay_minutes);
        for (position, target) in (0_i32..).zip(&level.targets) {
            target_levels.push(level_id);
            users.push(target.user_id);
            channels.push(target.notification_channel_id);
            positions.push(position);
        }
    }
    sqlx::query!(
        r#"INSERT INTO escalation_level (id, escalation_policy_id, level, delay_minutes)
           SELECT l.id, $2::uuid, l.level, l.delay_minutes
           FROM unnest($1::uuid[], $3::int4[], $4::int4[]) AS l(id, level, delay_minutes)"#,
        &level_ids,
        policy_id,
        &numbers,
        &delays,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO escalation_target (escalation_level_id, user_id, notification_channel_id, position)
           SELECT t.level_id, t.user_id, t.channel_id, t.position
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int4[])
                AS t(level_id, user_id, channel_id, position)"#,
        &target_levels,
        &users as &[Option<Uuid>],
        &channels as &[Option<Uuid>],
        &positions,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates an escalation policy with its levels.
pub async fn insert_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    new: &NewEscalationPolicy,
) -> Result<EscalationPolicyView, ApiError> {
    let name = check_name(&new.name)?;
    let description = check_description(new.description.as_deref())?;
    let repeat_count = check_repeat_count(new.repeat_count.unwrap_or(0))?;
    check_levels(conn, workspace_id, &new.levels).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO escalation_policy (workspace_id, name, description, repeat_count)
         VALUES ($1, $2, $3, $4)
         RETURNING id",
        workspace_id,
        name,
        description,
        repeat_count,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(policy_name_taken)?;
    insert_levels(conn, id, &new.levels).await?;
    get_policy(conn, workspace_id, id).await
}

/// One of the workspace's escalation policies, with its levels.
pub async fn get_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<EscalationPolicyView, ApiError> {
    select_policies(conn, workspace_id, Some(id), None, 1)
        .await?
        .pop()
        .ok_or_else(|| policy_not_found(id))
}

/// A page of the workspace's escalation policies, oldest first, after the policy `after`.
pub async fn list_policies(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<EscalationPolicyView>, ApiError> {
    select_policies(conn, workspace_id, None, after, limit).await
}

struct PolicyRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    repeat_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn select_policies(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<EscalationPolicyView>, ApiError> {
    let rows = sqlx::query_as!(
        PolicyRow,
        r#"SELECT id, name, description, repeat_count, created_at, updated_at
           FROM escalation_policy
           WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id = $2)
             AND ($3::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM escalation_policy
                                                          WHERE id = $3 AND workspace_id = $1))
           ORDER BY created_at, id
           LIMIT $4"#,
        workspace_id,
        id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut levels = load_levels(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| EscalationPolicyView {
            levels: levels.remove(&row.id).unwrap_or_default(),
            id: row.id,
            name: row.name,
            description: row.description,
            repeat_count: row.repeat_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect())
}

/// The levels of `policy_ids`, in order, with their targets in the order given.
async fn load_levels(
    conn: &mut PgConnection,
    policy_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<EscalationLevelView>>, ApiError> {
    let mut policies: HashMap<Uuid, Vec<EscalationLevelView>> = HashMap::new();
    if policy_ids.is_empty() {
        return Ok(policies);
    }
    let rows = sqlx::query!(
        r#"SELECT l.escalation_policy_id AS "escalation_policy_id!", l.level AS "level!",
                  l.delay_minutes AS "delay_minutes!", t.user_id AS "user_id?",
                  t.notification_channel_id AS "notification_channel_id?"
           FROM escalation_level l
           LEFT JOIN escalation_target t ON t.escalation_level_id = l.id
           WHERE l.escalation_policy_id = ANY($1)
           ORDER BY l.escalation_policy_id, l.level, t.position"#,
        policy_ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let levels = policies.entry(row.escalation_policy_id).or_default();
        if levels.last().is_none_or(|l| l.level != row.level) {
            levels.push(EscalationLevelView {
                level: row.level,
                delay_minutes: row.delay_minutes,
                targets: Vec::new(),
            });
        }
        if (row.user_id.is_some() || row.notification_channel_id.is_some())
            && let Some(level) = levels.last_mut()
        {
            level.targets.push(EscalationTarget {
                user_id: row.user_id,
                notification_channel_id: row.notification_channel_id,
            });
        }
    }
    Ok(policies)
}

/// Applies `patch` to one of the workspace's policies; new `levels` replace the old ones
/// in the caller's transaction.
pub async fn update_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &EscalationPolicyPatch,
) -> Result<EscalationPolicyView, ApiError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let (set_description, description) = match &patch.description {
        None => (false, None),
        Some(description) => (true, check_description(description.as_deref())?),
    };
    let repeat_count = patch.repeat_count.map(check_repeat_count).transpose()?;
    if let Some(levels) = &patch.levels {
        check_levels(conn, workspace_id, levels).await?;
    }
    // The update locks the policy's row, so concurrent replacements of its levels queue.
    let updated = sqlx::query_scalar!(
        r#"UPDATE escalation_policy SET
               name = coalesce($3, name),
               description = CASE WHEN $4::boolean THEN $5::text ELSE description END,
               repeat_count = coalesce($6, repeat_count),
               updated_at = now()
           WHERE workspace_id = $1 AND id = $2
           RETURNING id"#,
        workspace_id,
        id,
        name,
        set_description,
        description,
        repeat_count,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(policy_name_taken)?;
    if updated.is_none() {
        return Err(policy_not_found(id));
    }
    if let Some(levels) = &patch.levels {
        // Their targets go with them (ON DELETE CASCADE).
        sqlx::query!(
            "DELETE FROM escalation_level WHERE escalation_policy_id = $1",
            id
        )
        .execute(&mut *conn)
        .await?;
        insert_levels(conn, id, levels).await?;
    }
    get_policy(conn, workspace_id, id).await
}

/// Deletes one of the workspace's policies with its levels; its services and incidents
/// stay, without a policy.
pub async fn delete_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let deleted = sqlx::query!(
        "DELETE FROM escalation_policy WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(policy_not_found(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_null_differ_in_a_patch() {
        let absent: ServicePatch = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(absent.escalation_policy_id, None);
        let cleared: ServicePatch =
            serde_json::from_value(serde_json::json!({"escalation_policy_id": null})).unwrap();
        assert_eq!(cleared.escalation_policy_id, Some(None));
        let id = Uuid::new_v4();
        let set: ServicePatch = serde_json::from_value(serde_json::json!({"team_id": id})).unwrap();
        assert_eq!(set.team_id, Some(Some(id)));
    }

    #[test]
    fn a_target_shows_only_what_it_is() {
        let id = Uuid::new_v4();
        let target = EscalationTarget {
            user_id: Some(id),
            notification_channel_id: None,
        };
        assert_eq!(
            serde_json::to_value(target).unwrap(),
            serde_json::json!({"user_id": id})
        );
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(check_description(Some("  ")).unwrap(), None);
        assert_eq!(
            check_description(Some(" checkout ")).unwrap().as_deref(),
            Some("checkout")
        );
        let long = "x".repeat(MAX_DESCRIPTION + 1);
        assert_eq!(
            check_description(Some(long.as_str()))
                .unwrap_err()
                .problem()
                .field
                .as_deref(),
            Some("description")
        );
    }
}
