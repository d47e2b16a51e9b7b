//! ORT-SMB-002 — Data exfiltration over SMB: a DC's credential stores copied off over SMB.
//!
//! - Attack: after a shadow copy (`vssadmin`, `ntdsutil ifm`, ninjacopy) or `reg save`, the
//!   attacker copies the directory database (`ntds.dit`) and the SYSTEM / SAM / SECURITY
//!   hives — or an lsass dump — from the DC to its own host over SMB, and extracts every
//!   hash offline.
//! - ATT&CK: T1048.003, T1570; the files are T1003.003 (NTDS) and T1003.002 (SAM). MDI: Data
//!   exfiltration over SMB (2030).
//! - Data: NET: SMB2 CREATE requests for reading (FILE_READ_DATA, GENERIC_READ/ALL or
//!   MAXIMUM_ALLOWED), with the share, the path and the server's answer (not visible when the
//!   session is encrypted).
//! - Logic: a read-open, by a host that is not a known DC, of a file whose name is one of the
//!   credential stores [`credential_store`] names: `ntds.dit` (anywhere), the hives in a
//!   `config` or `RegBack` folder, the hives saved under another extension (`SAM.save`,
//!   `system.hiv`, …), `lsass*.dmp`. High when the server opened one; Medium when it only
//!   refused (an attempt). One alert per source, server and quiet gap `window_secs` (config
//!   `[smb_exfiltration]`), listing the files.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: backup software pulling a DC's files over SMB — exclude its host
//!   (`exclude_sources`) or account (`exclude_actors`).
//! - Gaps: bytes read are not counted yet, so the catalogue's "≥ 50 MB read from a DC's
//!   ADMIN$/C$" half is not judged; files under other names (the attacker renamed the copy)
//!   are missed.
//! - Evidence: each CREATE (request and answer frames), the account, share and path.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, FileAccess, NtStatus, Severity};

use crate::detections::windows::{EventRuleConfig, Finding, KnownDcs, NamedEpisodes};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-SMB-002",
    title: "Data exfiltration over SMB",
    mdi: "Data exfiltration over SMB (2030)",
    external_id: 2030,
    cef_app: "Smb",
    tactic: "TA0010",
    techniques: &["T1048.003", "T1570", "T1003.003"],
    data_sources: &["SMB2 CREATE of credential stores (ntds.dit, registry hives, lsass dumps) for reading"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "smb_exfiltration",
};

/// FILE_READ_DATA, MAXIMUM_ALLOWED, GENERIC_ALL, GENERIC_READ.
const READ_ACCESS: u32 = 0x0000_0001 | 0x0200_0000 | 0x1000_0000 | 0x8000_0000;

/// The registry hives that hold credentials (with SYSTEM's boot key).
const HIVES: &[&str] = &["sam", "system", "security"];
/// Extensions `reg save` copies are commonly given.
const HIVE_COPY_EXTENSIONS: &[&str] = &["save", "sav", "hiv", "hive", "bak", "reg"];

/// What a file name says it holds, when it is one of a DC's credential stores.
pub fn credential_store(path: &str) -> Option<&'static str> {
    let path = path.replace('/', "\\").to_lowercase();
    let mut parts = path.rsplit('\\').filter(|p| !p.is_empty());
    let file = parts.next()?;
    let folder = parts.next().unwrap_or_default();
    if file == "ntds.dit" || (folder == "ntds" && file.ends_with(".dit")) {
        return Some("the directory database");
    }
    let (stem, extension) = file.rsplit_once('.').unwrap_or((file, ""));
    if HIVES.contains(&stem)
        && ((extension.is_empty() && matches!(folder, "config" | "regback"))
            || HIVE_COPY_EXTENSIONS.contains(&extension))
    {
        return Some("a registry hive");
    }
    if stem.starts_with("lsass") && extension == "dmp" {
        return Some("an lsass memory dump");
    }
    None
}

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(SmbExfiltration {
        config: config.smb_exfiltration.clone(),
        dcs: KnownDcs::from_config(config),
        episodes: NamedEpisodes::new(config.smb_exfiltration.window_secs),
    })
}

pub struct SmbExfiltration {
    config: EventRuleConfig,
    dcs: KnownDcs,
    episodes: NamedEpisodes,
}

impl SmbExfiltration {
    fn file_opened(&mut self, activity: &Activity, file: &FileAccess, updates: &mut Vec<AlertUpdate>) {
        if file.pipe || file.desired_access & READ_ACCESS == 0 {
            return;
        }
        let Some(holds) = credential_store(&file.name) else { return };
        let (Some(source), Some(server)) = (activity.source_ip(), activity.destination) else { return };
        if self.dcs.contains_address(source) || file.user.as_deref().is_some_and(|u| self.config.excludes(u))
        {
            return;
        }
        let opened = file.status == Some(NtStatus::SUCCESS);
        let share = file.share.as_deref().unwrap_or("a share");
        let path = format!("{share}\\{}", file.name.trim_start_matches('\\'));
        let outcome = if opened { "opened" } else { "refused" };
        let key = format!("{source} {}", server.ip);
        let files = self.episodes.add(&key, activity.time, [format!("{path} ({outcome})")]);
        let any_opened = files.iter().any(|f| f.ends_with("(opened)"));
        let who = file.user.as_deref().unwrap_or("an unknown account");
        let finding = Finding {
            key,
            summary: format!("{who} {outcome} {path}: {holds}"),
            description: format!(
                "{who} on {source} {} credential stores from {} over SMB: {}.",
                if any_opened { "copied" } else { "tried to copy" },
                server.ip,
                files.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            severity: if any_opened { META.base_severity } else { Severity::Medium },
            actor: file.user.clone(),
            targets: AlertTargets {
                computers: BTreeSet::from([server.ip.to_string()]),
                ..AlertTargets::default()
            },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }
}

impl Detector for SmbExfiltration {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        self.dcs.learn(activity);
        if let ActivityKind::FileOpened(file) = &activity.kind {
            self.file_opened(activity, file, updates);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::recon::testing::extra_alerts;
    use crate::detections::windows::testing::assert_silent_on_logs_and_captures;

    #[test]
    fn names_the_credential_stores_and_nothing_else() {
        for path in [
            "lab.test\\temp\\ntds.dit",
            "Windows\\NTDS\\ntds.dit",
            "@GMT-2024.01.01-00.00.00\\Windows\\NTDS\\NTDS.DIT",
            "Windows\\NTDS\\edb.dit",
            "Windows\\System32\\config\\SAM",
            "Windows\\System32\\config\\RegBack\\SYSTEM",
            "Temp\\SECURITY.save",
            "system.hiv",
            "Temp\\lsass_1234.dmp",
        ] {
            assert!(credential_store(path).is_some(), "{path}");
        }
        for path in [
            "Windows\\System32",
            "lab.test\\Policies\\{31B2F340-016D-11D2-945F-00C04FB984F9}\\GPT.INI",
            "Users\\bob\\System",
            "Windows\\System32\\config\\software",
            "reports\\sam.docx",
            "Windows\\Temp\\memory.dmp",
            "",
        ] {
            assert!(credential_store(path).is_none(), "{path}");
        }
    }

    #[test]
    fn fires_when_ntds_dit_and_saved_hives_leave_the_dc() {
        // da_admin on the attacker's host copies a staged ntds.dit and saved SYSTEM/SAM hives
        // from the DC's SYSVOL share with smbclient.
        let alerts = extra_alerts("smb_ntds_exfil", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\da_admin"));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 3, "{alert:#?}");
        for file in ["temp\\ntds.dit (opened)", "temp\\SYSTEM.save (opened)", "temp\\SAM.save (opened)"] {
            assert!(alert.description.contains(file), "{file}: {}", alert.description);
        }
    }

    #[test]
    fn silent_for_an_excluded_backup_host_and_for_policy_reads() {
        let mut config = DetectionConfig::default();
        config.smb_exfiltration.exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(extra_alerts("smb_ntds_exfil", META.id, &config).is_empty());
        // A workstation reading GPT.INI and GptTmpl.inf from SYSVOL as at every logon.
        assert!(extra_alerts("benign_sysvol_read", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_benign_logs_and_captures() {
        assert_silent_on_logs_and_captures(META.id);
    }
}
