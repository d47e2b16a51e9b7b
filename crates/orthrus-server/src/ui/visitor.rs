//! The web UI's credential: a signed-in session (its cookie), with the session's CSRF token
//! every form that changes something must send back.

use axum::http::StatusCode;
use axum::http::request::Parts;
use orthrus_store::{Role, UserRecord};

use super::page::{Frame, UiError};
use super::session::Session;
use super::view::segment;
use crate::scope::{Caller, Credential, Refusal, Scoped};
use crate::state::{AppState, blocking};

/// A visitor signed in through the login page.
pub struct Visit {
    pub session: Session,
}

impl Credential for Visit {
    type Rejection = UiError;

    fn identify(parts: &Parts, state: &AppState) -> Result<(UserRecord, Self), Refusal> {
        let signed_out = || Refusal::SignedOut {
            path: parts.uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_owned(),
        };
        let session = state.sessions.find(&parts.headers, (state.clock)()).ok_or_else(signed_out)?;
        // A user removed, or whose password changed since the session opened (the store's
        // epoch moved on), is signed out here, on the next request.
        let user = blocking(|| state.store.user(&session.user))?
            .filter(|user| user.session_epoch == session.epoch)
            .ok_or_else(|| {
                state.sessions.close(&parts.headers);
                signed_out()
            })?;
        Ok((user, Visit { session }))
    }
}

impl Visit {
    /// Refuses a form whose CSRF token is not the session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), UiError> {
        // In constant time: how much of a guess matched must not show in the answer's timing.
        if bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), self.session.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(UiError::Page(
                StatusCode::FORBIDDEN,
                "The form is stale; reload the page and try again.".into(),
            ))
        }
    }
}

/// A page of a tenant, for a visitor with at least role `R` there.
pub type TenantPage<R> = Scoped<Visit, R>;

impl<R> Scoped<Visit, R> {
    /// The page's frame, `nav` marking the current section.
    pub fn frame(&self, title: &str, nav: &'static str) -> Frame {
        let tenant = self.tenant.0.as_ref();
        Frame {
            title: title.to_owned(),
            user: self.user.name.clone(),
            tenant: tenant.to_owned(),
            tenants: self
                .user
                .grants
                .iter()
                .map(|(t, _)| (t.0.to_string(), t.0.as_ref() == tenant))
                .collect(),
            csrf: self.credential.session.csrf.clone(),
            nav,
            can_act: self.role >= Role::Analyst,
            base: format!("/ui/t/{}", segment(tenant)),
        }
    }
}

/// A signed-in visitor, on the pages that name no tenant.
pub type Visitor = Caller<Visit>;
