//! Who may act on which tenant: the one extractor every tenant route of the API and of the web
//! UI takes. [`Scoped`] reads the tenant from the route's `{tenant}`, identifies the caller by
//! its [`Credential`] — an API token, or a web UI session — and checks the caller's role in
//! that tenant before the handler runs; a handler that reads a tenant's data takes the tenant
//! from its scope, so a route without the check has no tenant to read.
//!
//! A tenant the caller has no grant in does not exist, as far as the caller can tell.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use orthrus_model::TenantId;
use orthrus_store::credentials::token_hash;
use orthrus_store::{Role, StoreError, UserRecord};

use crate::state::{AppState, blocking};

/// Why a caller was refused, for each face (API, web UI) to word.
#[derive(Debug)]
pub enum Refusal {
    /// No valid credential; `path` is where the caller was going.
    SignedOut {
        path: String,
    },
    /// The caller has no grant in the tenant.
    NoTenant(String),
    /// The caller's role in the tenant is below the route's.
    RoleTooLow {
        tenant: String,
        needed: Role,
    },
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Refusal::Store(error)
    }
}

/// How a caller proves who it is.
pub trait Credential: Sized + Send + Sync + 'static {
    /// What a refused caller gets.
    type Rejection: IntoResponse + From<Refusal>;

    /// The user behind the request (read from the store each time: a grant taken away takes
    /// effect at once), and what the credential carries beside it.
    fn identify(parts: &Parts, state: &AppState) -> Result<(UserRecord, Self), Refusal>;
}

/// A user's API token: `Authorization: Bearer …`.
pub struct Token;

/// The user a request's token named, once the token check before the routes found it.
#[derive(Clone)]
pub struct Authenticated(pub UserRecord);

/// The token of a request, if it carries one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl Credential for Token {
    type Rejection = crate::error::ApiError;

    fn identify(parts: &Parts, state: &AppState) -> Result<(UserRecord, Self), Refusal> {
        if let Some(Authenticated(user)) = parts.extensions.get::<Authenticated>() {
            return Ok((user.clone(), Token));
        }
        let signed_out = || Refusal::SignedOut { path: parts.uri.path().to_owned() };
        let hash = token_hash(bearer(&parts.headers).ok_or_else(signed_out)?);
        let user = blocking(|| state.store.user_for_token(&hash))?.ok_or_else(signed_out)?;
        Ok((user, Token))
    }
}

/// The least role a route needs.
pub trait Needs: Send + Sync + 'static {
    const ROLE: Role;
}

/// Reads the tenant's alerts, entities, health.
pub struct Viewer;
/// Also changes alerts: status, comments.
pub struct Analyst;
/// Also changes the tenant's settings: directory, exclusions.
pub struct Admin;

impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}

impl Needs for Analyst {
    const ROLE: Role = Role::Analyst;
}

impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller with at least role `R` in the tenant the route names, identified by `C`.
pub struct Scoped<C, R> {
    pub user: UserRecord,
    pub tenant: TenantId,
    /// The caller's role there (at least `R`'s).
    pub role: Role,
    pub credential: C,
    needs: PhantomData<fn() -> R>,
}

impl<C: Credential, R: Needs> FromRequestParts<Arc<AppState>> for Scoped<C, R> {
    type Rejection = C::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let tenant = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(name, _)| *name == "tenant").map(|(_, v)| v.to_owned()))
            .unwrap_or_default();
        let (user, credential) = C::identify(parts, state)?;
        let id = TenantId(tenant.as_str().into());
        match user.role_in(&id) {
            None => Err(Refusal::NoTenant(tenant).into()),
            Some(role) if role < R::ROLE => Err(Refusal::RoleTooLow { tenant, needed: R::ROLE }.into()),
            Some(role) => Ok(Scoped { user, tenant: id, role, credential, needs: PhantomData }),
        }
    }
}

/// A signed-in caller, for the routes that name no tenant (the tenant list, the UI's home).
pub struct Caller<C> {
    pub user: UserRecord,
    pub credential: C,
}

impl<C: Credential> FromRequestParts<Arc<AppState>> for Caller<C> {
    type Rejection = C::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (user, credential) = C::identify(parts, state)?;
        Ok(Caller { user, credential })
    }
}

impl From<Refusal> for crate::error::ApiError {
    fn from(refusal: Refusal) -> Self {
        use axum::http::StatusCode;
        match refusal {
            Refusal::SignedOut { .. } => Self::unauthorized(),
            Refusal::NoTenant(tenant) => Self::not_found(format_args!("tenant {tenant}")),
            Refusal::RoleTooLow { tenant, needed } => {
                Self::new(StatusCode::FORBIDDEN, format!("this needs the {} role in {tenant}", needed.name()))
            }
            Refusal::Store(error) => error.into(),
        }
    }
}
