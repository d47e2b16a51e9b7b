//! ORT-LSA-001 — DPAPI domain backup key retrieval.
//!
//! - Attack: the domain's DPAPI backup key decrypts every user's DPAPI master keys — saved
//!   browser passwords, credential manager, certificates' private keys — forever; it is
//!   stored as the LSA secrets `G$BCKUPKEY_PREFERRED` and `G$BCKUPKEY_<guid>` on every DC and
//!   read remotely over LSARPC by mimikatz `lsadump::backupkeys`, impacket `dpapi.py
//!   backupkeys`, DonPAPI, SharpDPAPI; or asked of the DC's BackupKey Remote Protocol
//!   (MS-BKRP) with the retrieve-backup-key action.
//! - ATT&CK: T1555 (Credentials from Password Stores), T1552.004. MDI: Malicious request of
//!   Data Protection API master key (2020).
//! - Data: LSARPC `LsarOpenSecret` (28), `LsarQuerySecret` (30) and
//!   `LsarRetrievePrivateData` (43) calls, with the caller's address, account, result and,
//!   when the call is not sealed, the secret's name (`G$BCKUPKEY_…` is the backup key);
//!   reading LSA secrets of a DC remotely is itself what these tools do, so a sealed call
//!   whose name cannot be read still counts. MS-BKRP `BackuprKey` (opnum 0 over
//!   `\\pipe\\protected_storage`) whose action GUID is BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID
//!   (`018ff48a-eaba-40c6-8f6d-72370240e967`), readable when the call is signed but not
//!   sealed.
//!   EVT: the DC's own 4662 (ObjectServer LSA, ObjectType `SecretObject`) reading
//!   (`SECRET_QUERY_VALUE`, 0x2) a secret named `…BCKUPKEY…`, as the Sigma rule "DPAPI Domain
//!   Backup Key Extraction" reads it; it names the account but no address.
//! - Logic: any such call from an address that is not a known DC's. High. One alert per
//!   source and quiet gap `window_secs` (config `[dpapi_backup_key]`), counting successful
//!   and failed attempts. EVT: any such read by an account that is not the DC's own (its
//!   machine account, SYSTEM, LOCAL SERVICE, NETWORK SERVICE: LSA reads the key itself to
//!   answer clients' BackupKey requests); one alert per account and DC.
//! - Benign: approved security scanners that audit LSA secrets; exclude their address.
//!   Windows clients call BackuprKey themselves — to restore a master key (the restore
//!   GUID, not counted) and to fetch the key's public part for wrapping new master keys —
//!   always sealed; a sealed BackuprKey shows only its opnum, so it is not counted.
//! - Gaps: a sealed retrieve-backup-key request (a tool that asks for packet privacy) looks
//!   like a client's own and is not seen; the LSARPC path stays visible as calls.
//! - Evidence: each call (request and reply frames), account, result.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, BackupKeyAction, RpcDetail, Severity};

use crate::detections::foreign_rpc::{
    Attempt, Conclusion, ForeignRpcDetection, ForeignRpcRule, Logged, Reading, Seen,
};
use crate::names::{is_own_account, logged_on};
use crate::{Context, DetectionMeta};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LSA-001",
    title: "Malicious request of Data Protection API master key",
    mdi: "Malicious request of Data Protection API master key (2020)",
    external_id: 2020,
    cef_app: "LsaRpc",
    tactic: "TA0006",
    techniques: &["T1555", "T1552.004"],
    data_sources: &[
        "LSARPC LsarOpenSecret / LsarQuerySecret / LsarRetrievePrivateData",
        "BKRP BackuprKey (retrieve-backup-key action)",
        "event 4662 reading an LSA secret named BCKUPKEY",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "dpapi_backup_key",
    meaning: "A computer asked a DC for the domain's DPAPI backup key (LsarRetrievePrivateData of BCKUPKEY), as mimikatz does.",
    impact: "Every user's DPAPI-protected secrets (saved passwords, browser credentials, certificates' keys) can be decrypted; the key cannot be rotated.",
    actions: &[
        "Isolate the source and investigate the account that made the request (it must be a Domain Admin).",
        "Treat DPAPI-protected secrets as exposed: rotate the passwords and certificates they protect.",
    ],
};

/// The backup key's secrets: `G$BCKUPKEY_PREFERRED`, `G$BCKUPKEY_P` and `G$BCKUPKEY_<guid>`.
const BACKUP_KEY_PREFIX: &str = "G$BCKUPKEY_";

/// How the evidence names MS-BKRP's request for the backup key.
const BKRP_RETRIEVE: &str = "BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID";

pub struct DpapiBackupKey;

impl ForeignRpcDetection for DpapiBackupKey {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] = &[
        ForeignRpcRule::calls(
            "lsarpc",
            &["LsarOpenSecret", "LsarQuerySecret", "LsarRetrievePrivateData"],
            read_secret,
            conclude,
        )
        .per_source(),
        ForeignRpcRule::calls("bkrp", &["BackuprKey"], read_backup_key, conclude).per_source(),
    ];
    const LOGGED: Option<fn(&Activity, &Context) -> Option<Logged>> = Some(logged_read);
}

/// SECRET_QUERY_VALUE: the secret's value read.
const SECRET_QUERY_VALUE: u32 = 0x2;

/// The DC's 4662: an account other than the DC's own read a backup-key secret.
fn logged_read(activity: &Activity, _context: &Context) -> Option<Logged> {
    let ActivityKind::DirectoryObjectAccessed(access) = &activity.kind else { return None };
    if !access.object_type.eq_ignore_ascii_case("SecretObject")
        || access.access_mask & SECRET_QUERY_VALUE == 0
        || !access.object_name.to_ascii_uppercase().contains("BCKUPKEY")
    {
        return None;
    }
    let subject = &access.subject;
    if is_own_account(subject) {
        return None;
    }
    let actor = subject.qualified();
    let server = logged_on(activity).to_owned();
    let secret = access.object_name.rsplit('\\').next().unwrap_or(&access.object_name).to_owned();
    Some(Logged {
        key: format!("logged {} {}", actor.to_lowercase(), server.to_lowercase()),
        summary: format!("{actor} read the LSA secret {secret} on {server}"),
        names: vec![secret],
        severity: META.base_severity,
        describe: |logged, secrets| {
            format!(
                "{} read the DPAPI domain backup key ({}) on {} (its own event log).",
                logged.actor,
                secrets.iter().cloned().collect::<Vec<_>>().join(", "),
                logged.server
            )
        },
        actor,
        server,
    })
}

/// An LSA secret opened or read, named when the call shows it.
fn read_secret(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    let secret = match &call.detail {
        Some(RpcDetail::LsaSecret { name }) if !name.is_empty() => Some(name.clone()),
        _ => None,
    };
    Some(reading(seen, secret))
}

/// MS-BKRP's retrieve-backup-key action (a client's own restore is not counted).
fn read_backup_key(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    matches!(call.detail, Some(RpcDetail::BackupKey { action: BackupKeyAction::RetrieveBackupKey }))
        .then(|| reading(seen, Some(BKRP_RETRIEVE.to_owned())))
}

/// The episode's names: the calls, and the secrets asked for when the call shows them.
fn reading(seen: &Seen<'_>, secret: Option<String>) -> Reading {
    let (operation, result, who, server) =
        (seen.operation, seen.party.result, &seen.party.who, seen.party.server);
    Reading {
        summary: format!(
            "{operation}{} by {who} on {server}: {result}",
            secret.as_deref().map(|s| format!(" of {s}")).unwrap_or_default(),
        ),
        names: [format!("{result} {operation}")]
            .into_iter()
            .chain(secret.map(|s| format!("secret {s}")))
            .collect(),
        severity: META.base_severity,
    }
}

fn conclude(seen: &Seen<'_>, reading: &Reading, seen_names: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    let secrets: Vec<&str> = seen_names.iter().filter_map(|s| s.strip_prefix("secret ")).collect();
    let calls: Vec<&str> =
        seen_names.iter().filter(|s| !s.starts_with("secret ")).map(String::as_str).collect();
    let what = if secrets.iter().any(|s| s.starts_with(BACKUP_KEY_PREFIX) || *s == BKRP_RETRIEVE) {
        format!("the DPAPI domain backup key ({})", secrets.join(", "))
    } else if secrets.is_empty() {
        "LSA secrets (the DPAPI domain backup key is one)".to_owned()
    } else {
        format!("the LSA secrets {}", secrets.join(", "))
    };
    Conclusion::on_server(
        seen,
        reading.severity,
        format!("{who} read {what} of {server} from {source}: {}.", calls.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::lab::{BENIGN, assert_silent};

    #[test]
    fn fires_on_mimikatz_backupkeys_against_a_windows_dc() {
        let path = orthrus_testkit::corpus().join(
            "security-datasets/atomic/windows/credential_access/network/empire_mimikatz_backupkeys_dcerpc_smb_lsarpc/empire_mimikatz_backupkeys_dcerpc_smb_lsarpc_2020-10-22143243.cap",
        );
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.ip, Some("172.18.39.5".parse().unwrap()));
        assert_eq!(alerts[0].count, 4, "four LsarRetrievePrivateData calls");
        assert!(alerts[0].targets.computers.contains("172.18.38.5"));
        let description = &alerts[0].description;
        assert!(description.contains("the DPAPI domain backup key (G$BCKUPKEY_0343c16b-26f1-4e2c-83ed-90e443b3bfca, G$BCKUPKEY_P, G$BCKUPKEY_PREFERRED, G$BCKUPKEY_a0feda20-878f-4e68-ba74-d4df8f0191ab)"), "{description}");
    }

    #[test]
    fn silent_on_benign_captures_and_ordinary_lsarpc_use() {
        // The lab's SAMR recon and DCSync look names up over LSARPC; that is not secrets.
        assert_silent(BENIGN, META.id);
        assert_silent(&["samr_recon", "dcsync"], META.id);
    }

    #[test]
    fn fires_on_a_bkrp_retrieve_backup_key_request() {
        let alerts = extra_alerts("dpapi_backupkey_bkrp", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\da_admin"));
        // Samba wants packet privacy for BackupKey: the signed request is refused with a fault.
        assert_eq!(
            alert.description,
            "LAB\\da_admin read the DPAPI domain backup key (BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID) of DC1 (10.99.0.10) from 10.99.0.21: failed BackuprKey."
        );
    }

    #[test]
    fn silent_on_a_clients_master_key_restore() {
        // The restore action, signed (readable) and sealed (only the opnum shows).
        assert!(extra_alerts("benign_bkrp_restore", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn the_dcs_own_log_shows_the_backup_key_read() {
        use crate::testing::logs::event_activities;
        // Hand-written (no public sample): da_admin reads G$BCKUPKEY_PREFERRED and a key by
        // GUID; the DC's machine account and SYSTEM read it too (LSA answering clients), and
        // da_admin's read of another secret: none of these counts.
        let activities = event_activities(&orthrus_testkit::fixture("events/dpapi_backupkey_4662.jsonl"));
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in &activities {
            engine.observe(activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].count, 2, "{alerts:#?}");
        assert_eq!(
            alerts[0].description,
            "LAB\\da_admin read the DPAPI domain backup key (G$BCKUPKEY_PREFERRED, G$BCKUPKEY_a0feda20-878f-4e68-ba74-d4df8f0191ab) on DC1.lab.test (its own event log)."
        );
        // Excluded, it is silent.
        let mut config = DetectionConfig::default();
        config.settings_mut::<crate::detections::foreign_rpc::ForeignRpc<DpapiBackupKey>>().exclude_actors =
            vec!["da_admin".into()];
        let mut engine = crate::Engine::new(&config, "test");
        for activity in &activities {
            engine.observe(activity);
        }
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
    }

    #[test]
    fn a_member_servers_own_secret_reads_are_silent() {
        // DonPAPI's log (real): LOCAL SERVICE reading $MACHINE.ACC on a file server.
        let donpapi =
            "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID5145-4624-DonPAPI full extraction.evtx";
        let activities = crate::testing::logs::event_activities(&orthrus_testkit::corpus().join(donpapi));
        assert!(activities.iter().any(
            |a| matches!(&a.kind, ActivityKind::DirectoryObjectAccessed(d) if d.object_type == "SecretObject")
        ));
        let alerts = crate::testing::logs::corpus_alerts(&[donpapi], META.id, &DetectionConfig::default());
        assert!(alerts.is_empty(), "{alerts:#?}");
    }
}
