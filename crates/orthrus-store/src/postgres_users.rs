//! PostgreSQL: users, their grants and API tokens, and sensor credentials — who may do what,
//! and how each credential is taken back (the same as `sqlite_users`, in PostgreSQL's
//! dialect).

use orthrus_model::{TenantId, Timestamp};
use postgres::Client;
use postgres::error::SqlState;
use postgres::types::ToSql;

use crate::credentials::new_epoch;
use crate::rows::{invalid_name, micros, valid_name};
use crate::{Result, Role, StoreError, TokenRecord, UserRecord};

pub(crate) fn user_record(client: &mut Client, name: &str) -> Result<Option<UserRecord>> {
    let Some(row) =
        client.query_opt("SELECT password_hash, session_epoch FROM users WHERE name = $1", &[&name])?
    else {
        return Ok(None);
    };
    let (password_hash, session_epoch): (Option<String>, i64) = (row.try_get(0)?, row.try_get(1)?);
    let mut grants = Vec::new();
    for row in
        client.query("SELECT tenant, role FROM grants WHERE user_name = $1 ORDER BY tenant", &[&name])?
    {
        let (tenant, role): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let role = Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("stored role {role:?}")))?;
        grants.push((TenantId(tenant.into()), role));
    }
    Ok(Some(UserRecord { name: name.to_owned(), grants, password_hash, session_epoch }))
}

pub(crate) fn create_user(
    client: &mut Client,
    name: &str,
    password_hash: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    if !valid_name(name) {
        return Err(invalid_name("user", name));
    }
    client
        .execute(
            "INSERT INTO users (name, password_hash, created, session_epoch) VALUES ($1, $2, $3, $4)",
            &[&name, &password_hash, &micros(now), &new_epoch()?],
        )
        .map_err(|e| exists_or(e, &format!("user {name}")))?;
    Ok(())
}

pub(crate) fn grant(client: &mut Client, user: &str, tenant: &TenantId, role: Role) -> Result<()> {
    let known = count(
        client,
        "SELECT (SELECT count(*) FROM users WHERE name = $1) + 2 * (SELECT count(*) FROM tenants WHERE id = $2)",
        &[&user, &&*tenant.0],
    )?;
    match known {
        3 => {}
        2 => return Err(StoreError::NotFound(format!("user {user}"))),
        _ => return Err(StoreError::NotFound(format!("tenant {}", tenant.0))),
    }
    client.execute(
        "INSERT INTO grants (user_name, tenant, role) VALUES ($1, $2, $3)
         ON CONFLICT (user_name, tenant) DO UPDATE SET role = excluded.role",
        &[&user, &&*tenant.0, &role.name()],
    )?;
    Ok(())
}

pub(crate) fn revoke_grant(client: &mut Client, user: &str, tenant: &TenantId) -> Result<bool> {
    Ok(client.execute("DELETE FROM grants WHERE user_name = $1 AND tenant = $2", &[&user, &&*tenant.0])? > 0)
}

pub(crate) fn remove_user(client: &mut Client, name: &str) -> Result<bool> {
    // Grants and API tokens go with the user (ON DELETE CASCADE).
    Ok(client.execute("DELETE FROM users WHERE name = $1", &[&name])? > 0)
}

pub(crate) fn add_user_token(
    client: &mut Client,
    user: &str,
    token_hash: &[u8; 32],
    label: &str,
    now: Timestamp,
) -> Result<()> {
    if user_record(client, user)?.is_none() {
        return Err(StoreError::NotFound(format!("user {user}")));
    }
    client
        .execute(
            "INSERT INTO api_tokens (token_hash, user_name, label, created) VALUES ($1, $2, $3, $4)",
            &[&&token_hash[..], &user, &label, &micros(now)],
        )
        .map_err(|e| exists_or(e, "token"))?;
    Ok(())
}

pub(crate) fn user_for_token(client: &mut Client, token_hash: &[u8; 32]) -> Result<Option<UserRecord>> {
    let row =
        client.query_opt("SELECT user_name FROM api_tokens WHERE token_hash = $1", &[&&token_hash[..]])?;
    match row {
        Some(row) => user_record(client, &row.try_get::<_, String>(0)?),
        None => Ok(None),
    }
}

pub(crate) fn user_tokens(client: &mut Client, user: &str) -> Result<Vec<TokenRecord>> {
    client
        .query(
            "SELECT token_hash, label, created FROM api_tokens WHERE user_name = $1 ORDER BY created",
            &[&user],
        )?
        .iter()
        .map(|row| TokenRecord::from_row(&row.try_get::<_, Vec<u8>>(0)?, row.try_get(1)?, row.try_get(2)?))
        .collect()
}

pub(crate) fn remove_user_token(client: &mut Client, token_hash: &[u8; 32]) -> Result<bool> {
    Ok(client.execute("DELETE FROM api_tokens WHERE token_hash = $1", &[&&token_hash[..]])? > 0)
}

pub(crate) fn set_password(client: &mut Client, user: &str, password_hash: &str) -> Result<()> {
    // A new epoch: the sessions opened with the old password end at their next request.
    let changed = client.execute(
        "UPDATE users SET password_hash = $2, session_epoch = $3 WHERE name = $1",
        &[&user, &password_hash, &new_epoch()?],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("user {user}")));
    }
    Ok(())
}

pub(crate) fn remove_sensor(client: &mut Client, tenant: &TenantId, name: &str) -> Result<bool> {
    // Its batch records go with it (ON DELETE CASCADE); the activities it sent stay.
    Ok(client.execute("DELETE FROM sensors WHERE tenant = $1 AND name = $2", &[&&*tenant.0, &name])? > 0)
}

/// A unique or foreign-key violation named as what the caller tried to add.
pub(crate) fn exists_or(error: postgres::Error, what: &str) -> StoreError {
    match error.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Exists(what.to_owned()),
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound(what.to_owned()),
        _ => StoreError::Postgres(error),
    }
}

pub(crate) fn count(client: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<i64> {
    Ok(client.query_one(sql, params)?.try_get(0)?)
}
