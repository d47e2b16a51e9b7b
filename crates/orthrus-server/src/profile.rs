//! What Orthrus knows of one entity (an account, a computer, an address) in a tenant: its
//! directory object, sensitivity, honeytoken mark, alerts and recent activities. The API's
//! profile route and the web UI's entity page both show it.

use std::sync::Arc;

use orthrus_model::{Activity, TenantId};
use orthrus_store::{ActivityQuery, AlertFilter, AlertStatus, Page};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::{AppState, blocking, with_center};

/// How many alerts and activities a profile lists.
pub const PROFILE_ITEMS: usize = 20;

/// An entity's profile, as the API and the web UI show it.
pub struct Profile {
    /// The entity key (`account:alice`).
    pub key: String,
    /// The directory object (a group's members reduced to their count), its domain and
    /// qualified name.
    pub directory: Option<Value>,
    /// Its attributes decoded (account state, delegation, encryption types, dates with ages).
    pub decoded: Vec<(&'static str, String)>,
    /// The groups it is a direct member of.
    pub member_of: Vec<String>,
    /// Why the entity is sensitive (the group path or the tag), when it is.
    pub sensitive: Option<String>,
    pub honeytoken: bool,
    /// Its latest alerts and how many there are.
    pub alerts: orthrus_store::AlertPage,
    pub open_alerts: u64,
    /// Its latest activities, newest first.
    pub recent: Vec<Activity>,
    /// For an address: the computer name resolution puts there, and how it knows.
    pub resolution: Option<orthrus_directory::Resolution>,
}

/// The profile of `entity` (`kind:name`) in `tenant`, with at most `activities` activities;
/// 404 when nothing at all is known of it.
pub async fn entity_profile(
    state: &Arc<AppState>,
    tenant: &TenantId,
    entity: &str,
    activities: usize,
) -> Result<Profile, ApiError> {
    let (kind, name) = entity.split_once(':').ok_or_else(|| {
        ApiError::bad_request(format!("{entity:?}: an entity is kind:name (account:, computer:, ip:)"))
    })?;
    let key = orthrus_store::entity_key(kind, name);
    let address = (kind == "ip").then(|| name.parse::<std::net::IpAddr>().ok()).flatten();
    let (directory, resolution) = {
        let tenant = tenant.clone();
        with_center(state.clone(), move |center| {
            Ok((center.directory(&tenant), address.and_then(|ip| center.resolve(&tenant, ip))))
        })
        .await?
    };
    let found = directory.as_ref().and_then(|d| match kind {
        "account" => d.find(name),
        "computer" => d.find_computer(name),
        _ => None,
    });
    let object = found.as_ref().map(|f| {
        let mut object = serde_json::to_value(f.object).unwrap_or_default();
        // A group's member list can be huge; its size says enough here.
        if let Some(map) = object.as_object_mut()
            && let Some(Value::Array(members)) = map.remove("members")
        {
            map.insert("member_count".into(), json!(members.len()));
        }
        json!({ "domain": f.domain.dns_name, "qualified_name": f.qualified_name(), "object": object })
    });
    let sensitive = found.as_ref().and_then(|f| directory.as_ref()?.sensitivity(f)).map(|s| s.reason.clone());
    let now = (state.clock)();
    let decoded = found.as_ref().map(|f| orthrus_directory::describe(f.object, now)).unwrap_or_default();
    let member_of = match (&directory, &found) {
        (Some(d), Some(f)) => d.direct_groups(f),
        _ => Vec::new(),
    };
    let honeytoken = match (&directory, &found) {
        (Some(d), Some(f)) => d.is_honeytoken(f),
        (Some(d), None) => kind == "account" && d.is_honeytoken_name(name),
        _ => false,
    };
    let filter = AlertFilter { entity: Some(key.clone()), ..AlertFilter::default() };
    let alerts = blocking(|| state.store.alerts(tenant, &filter, Page { offset: 0, limit: PROFILE_ITEMS }))?;
    let open_filter = AlertFilter { status: Some(AlertStatus::Open), ..filter };
    let open_alerts =
        blocking(|| state.store.alerts(tenant, &open_filter, Page { offset: 0, limit: 1 }))?.total;
    let recent = blocking(|| {
        state.store.activities(
            tenant,
            &ActivityQuery { entity: Some(key.clone()), since: None, until: None, limit: activities },
        )
    })?;
    if object.is_none() && alerts.total == 0 && recent.is_empty() && !honeytoken {
        return Err(ApiError::not_found(format_args!("entity {entity}")));
    }
    Ok(Profile {
        key,
        directory: object,
        decoded,
        member_of,
        sensitive,
        honeytoken,
        alerts,
        open_alerts,
        recent,
        resolution,
    })
}
