//! A directory object's attributes as an analyst reads them: `userAccountControl` as the
//! account's state (enabled, pre-authentication, delegation, password policy),
//! `msDS-SupportedEncryptionTypes` as the Kerberos encryption types, times as dates with their
//! age. The bits are MS-ADTS 2.2.16 (userAccountControl) and MS-KILE 2.2.7
//! (msDS-SupportedEncryptionTypes).

use orthrus_model::Timestamp;

use crate::{DirectoryObject, ObjectKind};

/// `userAccountControl` bits an analyst weighs, with what each means when set.
const UAC_FLAGS: &[(u32, &str)] = &[
    (0x0000_0020, "password not required"),
    (0x0000_0080, "reversible password encryption"),
    (0x0001_0000, "password never expires"),
    (0x0004_0000, "smart card required"),
    (0x0008_0000, "unconstrained delegation (trusted for delegation)"),
    (0x0010_0000, "sensitive, cannot be delegated"),
    (0x0020_0000, "DES keys only"),
    (0x0040_0000, "no Kerberos pre-authentication (AS-REP roastable)"),
    (0x0100_0000, "constrained delegation with protocol transition"),
];

const ACCOUNT_DISABLE: u32 = 0x0000_0002;
const LOCKOUT: u32 = 0x0000_0010;

/// `msDS-SupportedEncryptionTypes` bits.
const ENCRYPTION_TYPES: &[(u32, &str)] =
    &[(0x01, "DES-CBC-CRC"), (0x02, "DES-CBC-MD5"), (0x04, "RC4-HMAC"), (0x08, "AES128"), (0x10, "AES256")];

/// The object's attributes, decoded, as (label, value) rows; `now` dates the ages.
pub fn describe(object: &DirectoryObject, now: Timestamp) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    let is_account = matches!(object.kind, Some(ObjectKind::User | ObjectKind::Computer));
    if let Some(uac) = object.user_account_control.filter(|_| is_account) {
        let state = if uac & ACCOUNT_DISABLE != 0 { "disabled" } else { "enabled" };
        let locked = if uac & LOCKOUT != 0 { ", locked out" } else { "" };
        rows.push(("Account", format!("{state}{locked}")));
        let flags: Vec<&str> =
            UAC_FLAGS.iter().filter(|(bit, _)| uac & bit != 0).map(|(_, name)| *name).collect();
        rows.push((
            "Account flags",
            if flags.is_empty() { "none of note".to_owned() } else { flags.join("; ") },
        ));
    }
    if !object.allowed_to_delegate_to.is_empty() {
        rows.push(("Constrained delegation to", object.allowed_to_delegate_to.join(", ")));
    }
    if let Some(types) = object.supported_encryption_types {
        let names: Vec<&str> =
            ENCRYPTION_TYPES.iter().filter(|(bit, _)| types & bit != 0).map(|(_, name)| *name).collect();
        let text = if names.is_empty() {
            "not set (the KDC's default: RC4-HMAC)".to_owned()
        } else {
            names.join(", ")
        };
        rows.push(("Kerberos encryption types", text));
    } else if is_account {
        rows.push(("Kerberos encryption types", "not set (the KDC's default: RC4-HMAC)".to_owned()));
    }
    if let Some(set) = object.pwd_last_set {
        rows.push(("Password last set", dated(set, now)));
    }
    if let Some(logon) = object.last_logon_timestamp {
        rows.push(("Last logon", dated(logon, now)));
    }
    if !object.service_principal_names.is_empty() {
        rows.push(("Service principal names", object.service_principal_names.join(", ")));
    }
    if object.admin_count {
        rows.push(("adminCount", "1 (once a member of a protected group)".to_owned()));
    }
    if !object.sid_history.is_empty() {
        rows.push(("SID history", object.sid_history.join(", ")));
    }
    if let Some(system) = &object.operating_system {
        let version = object.operating_system_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        rows.push(("Operating system", format!("{system}{version}")));
    }
    if let Some(dns) = &object.dns_host_name {
        rows.push(("DNS name", dns.clone()));
    }
    if let Some(description) = &object.description {
        rows.push(("Description", description.clone()));
    }
    rows
}

/// `2026-03-01 (280 days ago)`.
fn dated(time: Timestamp, now: Timestamp) -> String {
    let day = time.to_string().split('T').next().unwrap_or_default().to_owned();
    let days = now.as_micros().saturating_sub(time.as_micros()) / 86_400_000_000;
    match days {
        d if d < 0 => day,
        0 => format!("{day} (today)"),
        1 => format!("{day} (yesterday)"),
        d => format!("{day} ({d} days ago)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(uac: u32, etypes: Option<u32>) -> DirectoryObject {
        serde_json::from_value(serde_json::json!({
            "kind": "user", "dn": "CN=svc,DC=corp", "user_account_control": uac,
            "supported_encryption_types": etypes, "usn_changed": 1,
            "pwd_last_set": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn account_control_and_encryption_types_read_as_words() {
        let now: Timestamp = serde_json::from_value(serde_json::json!("2026-01-31T12:00:00Z")).unwrap();
        let roastable = describe(&object(0x0041_0202, Some(0x18)), now);
        let get = |rows: &[(&str, String)], label: &str| {
            rows.iter().find(|(l, _)| *l == label).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        assert_eq!(get(&roastable, "Account"), "disabled");
        assert_eq!(
            get(&roastable, "Account flags"),
            "password never expires; no Kerberos pre-authentication (AS-REP roastable)"
        );
        assert_eq!(get(&roastable, "Kerberos encryption types"), "AES128, AES256");
        assert_eq!(get(&roastable, "Password last set"), "2026-01-01 (30 days ago)");

        let plain = describe(&object(0x200, None), now);
        assert_eq!(get(&plain, "Account"), "enabled");
        assert_eq!(get(&plain, "Account flags"), "none of note");
        assert_eq!(get(&plain, "Kerberos encryption types"), "not set (the KDC's default: RC4-HMAC)");
    }
}
