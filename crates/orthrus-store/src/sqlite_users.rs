//! SQLite: users, their grants and API tokens, and sensor credentials — who may do what, and
//! how each credential is taken back.

use orthrus_model::{TenantId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::credentials::new_epoch;
use crate::rows::{invalid_name, micros, valid_name};
use crate::{Result, Role, StoreError, TokenRecord, UserRecord};

pub(crate) fn user_record(connection: &Connection, name: &str) -> Result<Option<UserRecord>> {
    let row: Option<(Option<String>, i64)> = connection
        .query_row("SELECT password_hash, session_epoch FROM users WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((password_hash, session_epoch)) = row else { return Ok(None) };
    let mut statement =
        connection.prepare("SELECT tenant, role FROM grants WHERE user_name = ?1 ORDER BY tenant")?;
    let rows = statement.query_map([name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut grants = Vec::new();
    for row in rows {
        let (tenant, role) = row?;
        let role = Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("stored role {role:?}")))?;
        grants.push((TenantId(tenant.into()), role));
    }
    Ok(Some(UserRecord { name: name.to_owned(), grants, password_hash, session_epoch }))
}

pub(crate) fn create_user(
    connection: &Connection,
    name: &str,
    password_hash: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    if !valid_name(name) {
        return Err(invalid_name("user", name));
    }
    connection
        .execute(
            "INSERT INTO users (name, password_hash, created, session_epoch) VALUES (?1, ?2, ?3, ?4)",
            params![name, password_hash, micros(now), new_epoch()?],
        )
        .map_err(|e| exists_or(e, &format!("user {name}")))?;
    Ok(())
}

pub(crate) fn grant(connection: &Connection, user: &str, tenant: &TenantId, role: Role) -> Result<()> {
    let known: i64 = connection.query_row(
        "SELECT (SELECT count(*) FROM users WHERE name = ?1) + 2 * (SELECT count(*) FROM tenants WHERE id = ?2)",
        params![user, &*tenant.0],
        |r| r.get(0),
    )?;
    match known {
        3 => {}
        2 => return Err(StoreError::NotFound(format!("user {user}"))),
        _ => return Err(StoreError::NotFound(format!("tenant {}", tenant.0))),
    }
    connection.execute(
        "INSERT INTO grants (user_name, tenant, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_name, tenant) DO UPDATE SET role = excluded.role",
        params![user, &*tenant.0, role.name()],
    )?;
    Ok(())
}

pub(crate) fn revoke_grant(connection: &Connection, user: &str, tenant: &TenantId) -> Result<bool> {
    let removed = connection
        .execute("DELETE FROM grants WHERE user_name = ?1 AND tenant = ?2", params![user, &*tenant.0])?;
    Ok(removed > 0)
}

pub(crate) fn remove_user(connection: &Connection, name: &str) -> Result<bool> {
    // Grants and API tokens go with the user (ON DELETE CASCADE); its UI sessions end on
    // their next request, which finds no user.
    Ok(connection.execute("DELETE FROM users WHERE name = ?1", [name])? > 0)
}

pub(crate) fn add_user_token(
    connection: &Connection,
    user: &str,
    token_hash: &[u8; 32],
    label: &str,
    now: Timestamp,
) -> Result<()> {
    if user_record(connection, user)?.is_none() {
        return Err(StoreError::NotFound(format!("user {user}")));
    }
    connection
        .execute(
            "INSERT INTO api_tokens (token_hash, user_name, label, created) VALUES (?1, ?2, ?3, ?4)",
            params![&token_hash[..], user, label, micros(now)],
        )
        .map_err(|e| exists_or(e, "token"))?;
    Ok(())
}

pub(crate) fn user_for_token(connection: &Connection, token_hash: &[u8; 32]) -> Result<Option<UserRecord>> {
    let user: Option<String> = connection
        .query_row("SELECT user_name FROM api_tokens WHERE token_hash = ?1", [&token_hash[..]], |r| r.get(0))
        .optional()?;
    match user {
        Some(name) => user_record(connection, &name),
        None => Ok(None),
    }
}

pub(crate) fn user_tokens(connection: &Connection, user: &str) -> Result<Vec<TokenRecord>> {
    let mut statement = connection
        .prepare("SELECT token_hash, label, created FROM api_tokens WHERE user_name = ?1 ORDER BY created")?;
    let rows = statement
        .query_map([user], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
    rows.map(|row| {
        let (hash, label, created) = row?;
        TokenRecord::from_row(&hash, label, created)
    })
    .collect()
}

pub(crate) fn remove_user_token(connection: &Connection, token_hash: &[u8; 32]) -> Result<bool> {
    Ok(connection.execute("DELETE FROM api_tokens WHERE token_hash = ?1", [&token_hash[..]])? > 0)
}

pub(crate) fn set_password(connection: &Connection, user: &str, password_hash: &str) -> Result<()> {
    // A new epoch: the sessions opened with the old password end at their next request.
    let changed = connection.execute(
        "UPDATE users SET password_hash = ?2, session_epoch = ?3 WHERE name = ?1",
        params![user, password_hash, new_epoch()?],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("user {user}")));
    }
    Ok(())
}

pub(crate) fn remove_sensor(connection: &Connection, tenant: &TenantId, name: &str) -> Result<bool> {
    // Its batch records go with it (ON DELETE CASCADE); the activities it sent stay.
    let removed = connection
        .execute("DELETE FROM sensors WHERE tenant = ?1 AND name = ?2", params![&*tenant.0, name])?;
    Ok(removed > 0)
}

/// A constraint violation named as what the caller tried to add.
pub(crate) fn exists_or(error: rusqlite::Error, what: &str) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Exists(what.to_owned())
        }
        other => StoreError::Sqlite(other),
    }
}
