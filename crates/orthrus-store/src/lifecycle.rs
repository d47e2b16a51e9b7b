//! An alert's status changes as people make them: who, when, to what, and — closing — how
//! they classified it and why. Kept beside the alert (table `alert_status_changes`, migration
//! V6) and shown with it.

use orthrus_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{AlertStatus, StoreError};

/// How an analyst closing an alert judged it (Defender XDR's determinations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// A real attack.
    TruePositive,
    /// Real activity of the kind detected, done on purpose (a penetration test, an admin's
    /// tool).
    BenignTruePositive,
    /// The detection was wrong about what happened.
    FalsePositive,
}

impl Classification {
    pub const ALL: [Classification; 3] =
        [Classification::TruePositive, Classification::BenignTruePositive, Classification::FalsePositive];

    pub fn name(self) -> &'static str {
        match self {
            Classification::TruePositive => "true_positive",
            Classification::BenignTruePositive => "benign_true_positive",
            Classification::FalsePositive => "false_positive",
        }
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Classification::TruePositive => "True positive",
            Classification::BenignTruePositive => "Benign true positive",
            Classification::FalsePositive => "False positive",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == text)
    }
}

/// One status change of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub time: Timestamp,
    pub author: String,
    pub status: AlertStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Longest reason kept with a status change.
pub const MAX_REASON_CHARS: usize = 1_000;

impl StatusChange {
    /// Whether the change can be recorded: a classification goes with closing only, and a
    /// reason has at most [`MAX_REASON_CHARS`] characters.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.classification.is_some() && self.status != AlertStatus::Closed {
            return Err(StoreError::Invalid("a classification goes with closing an alert".into()));
        }
        if self.reason.chars().count() > MAX_REASON_CHARS {
            return Err(StoreError::Invalid(format!("a reason has at most {MAX_REASON_CHARS} characters")));
        }
        Ok(())
    }
}

/// The SQL both stores run (`?N` becomes `$N` on PostgreSQL): the change, recorded only for an
/// alert of the tenant.
pub(crate) const INSERT_CHANGE: &str = "INSERT INTO alert_status_changes
        (tenant, alert, time, author, status, classification, reason)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM alerts WHERE tenant = ?1 AND id = ?2)";

pub(crate) const SELECT_CHANGES: &str = "SELECT time, author, status, classification, reason
     FROM alert_status_changes WHERE tenant = ?1 AND alert = ?2 ORDER BY time, id";

/// A row of [`SELECT_CHANGES`].
pub(crate) fn change_from_row(
    time: i64,
    author: String,
    status: &str,
    classification: Option<String>,
    reason: String,
) -> Result<StatusChange, StoreError> {
    Ok(StatusChange {
        time: Timestamp::from_micros(time),
        author,
        status: AlertStatus::parse(status)
            .ok_or_else(|| StoreError::Invalid(format!("stored status {status:?}")))?,
        classification: classification.as_deref().and_then(Classification::parse),
        reason,
    })
}

/// `$N` for `?N`: PostgreSQL's placeholders.
#[cfg(feature = "postgres")]
pub(crate) fn dollars(query: &str) -> String {
    let mut out = query.to_owned();
    for n in (1..=9).rev() {
        out = out.replace(&format!("?{n}"), &format!("${n}"));
    }
    out
}
