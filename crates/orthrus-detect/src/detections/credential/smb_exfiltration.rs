//! ORT-SMB-002 — Data exfiltration over SMB: a DC's credential stores copied off over SMB.
//!
//! - Attack: after a shadow copy (`vssadmin`, `ntdsutil ifm`, ninjacopy) or `reg save`, the
//!   attacker copies the directory database (`ntds.dit`) and the SYSTEM / SAM / SECURITY
//!   hives — or an lsass dump — from the DC to its own host over SMB, and extracts every
//!   hash offline.
//! - ATT&CK: T1048.003, T1570; the files are T1003.003 (NTDS) and T1003.002 (SAM). MDI: Data
//!   exfiltration over SMB (2030).
//! - Data: NET: SMB2 CREATE requests for reading (FILE_READ_DATA, GENERIC_READ/ALL or
//!   MAXIMUM_ALLOWED), with the share, the path and the server's answer, and the bytes READ
//!   from each file until its CLOSE (`file_read`; not visible when the session is encrypted).
//! - Logic: a read-open, by a host that is not a known DC, of a file whose name is one of the
//!   credential stores [`credential_store`] names: `ntds.dit` (anywhere), the hives in a
//!   `config` or `RegBack` folder, the hives saved under another extension (`SAM.save`,
//!   `system.hiv`, …), `lsass*.dmp`. High when the server opened one; Medium when it only
//!   refused (an attempt). One alert per source, server and quiet gap `window_secs` (config
//!   `[smb_exfiltration]`), listing the files and the bytes read from them. Also: a host that
//!   is not a known DC reading at least `min_admin_share_bytes` from a known DC's
//!   administrative shares (`ADMIN$`, `C$` and the other drive shares) within
//!   `admin_share_window_secs` — a bulk copy off the DC, whatever the files are called: High.
//! - Thresholds: `window_secs = 3600`, `min_admin_share_bytes = 52428800` (50 MiB),
//!   `admin_share_window_secs = 600`.
//! - Benign: backup software pulling a DC's files over SMB — exclude its host
//!   (`exclude_sources`) or account (`exclude_actors`).
//! - Gaps: credential stores copied under other names through ordinary shares (the attacker
//!   renamed the copy, and it is small or slow) are missed.
//! - Evidence: each CREATE (request and answer frames), each file's reads (up to 16 READ
//!   responses cited), the account, share, path and bytes.

use std::collections::BTreeSet;

use std::collections::HashMap;
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, AlertTargets, FileAccess, FileRead, NtStatus, Severity, Timestamp,
};
use serde::Deserialize;

use crate::names::lists_account;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-SMB-002",
    title: "Data exfiltration over SMB",
    mdi: "Data exfiltration over SMB (2030)",
    external_id: 2030,
    cef_app: "Smb",
    tactic: "TA0010",
    techniques: &["T1048.003", "T1570", "T1003.003"],
    data_sources: &[
        "SMB2 CREATE of credential stores (ntds.dit, registry hives, lsass dumps) for reading",
        "SMB2 READ bytes per file (credential stores; volume from a DC's administrative shares)",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "smb_exfiltration",
    meaning: "A DC's credential stores (ntds.dit, the SYSTEM, SAM or SECURITY hives, an lsass dump) were copied from the DC over SMB.",
    impact: "With these files the attacker has every password hash in the domain, including krbtgt's.",
    actions: &[
        "Isolate the destination computer immediately.",
        "Find how the copy was made on the DC (shadow copy, ntdsutil, reg save) and remove what the attacker left there.",
        "Treat the domain's credentials as stolen: reset krbtgt twice, then privileged and service accounts.",
    ],
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmbExfiltrationConfig {
    pub window_secs: u64,
    /// Bytes read from a DC's administrative shares that make a bulk copy.
    pub min_admin_share_bytes: u64,
    pub admin_share_window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for SmbExfiltrationConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            min_admin_share_bytes: 50 * 1024 * 1024,
            admin_share_window_secs: 600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for SmbExfiltrationConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_admin_share_bytes", self.min_admin_share_bytes.to_string()),
            ("admin_share_window_secs", self.admin_share_window_secs.to_string()),
        ]
    }
}

/// Whether a share is a DC's administrative share: `ADMIN$`, or a drive's (`C$`, `D$`, …).
pub fn administrative_share(share: &str) -> bool {
    let name = share.rsplit('\\').next().unwrap_or(share);
    name.eq_ignore_ascii_case("admin$")
        || (name.len() == 2 && name.ends_with('$') && name.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// `\\server\share\path` as the alert names a file.
fn share_path(share: Option<&str>, name: &str) -> String {
    format!("{}\\{}", share.unwrap_or("a share"), name.trim_start_matches('\\'))
}

/// "524 288 bytes", "52.4 MB".
fn byte_count(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{bytes} bytes") } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

impl Detection for SmbExfiltration {
    type Settings = SmbExfiltrationConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        SmbExfiltration {
            config: c.clone(),
            episodes: Incidents::new(c.window_secs),
            admin_reads: HashMap::new(),
        }
    }
}

pub struct SmbExfiltration {
    config: SmbExfiltrationConfig,
    episodes: Incidents<String>,
    /// Reads from administrative shares per source and server: the window's start and bytes.
    admin_reads: HashMap<(IpAddr, IpAddr), (Timestamp, u64)>,
}

impl SmbExfiltration {
    fn file_opened(
        &mut self,
        activity: &Activity,
        file: &FileAccess,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        if file.pipe || file.desired_access & READ_ACCESS == 0 {
            return;
        }
        let Some(holds) = credential_store(&file.name) else { return };
        let (Some(source), Some(server)) = (activity.source_ip(), activity.destination) else { return };
        if context.dcs().contains_address(source) || self.excluded(file.user.as_deref()) {
            return;
        }
        let opened = file.status == Some(NtStatus::SUCCESS);
        let path = share_path(file.share.as_deref(), &file.name);
        let outcome = if opened { "opened" } else { "refused" };
        let summary =
            format!("{} {outcome} {path}: {holds}", file.user.as_deref().unwrap_or("an unknown account"));
        let opening = Some(format!("{path} ({outcome})"));
        self.raise_stores(activity, (source, server.ip), file.user.as_deref(), (opening, 0), summary, alerts);
    }

    /// Adds to the alert of credential stores copied from `server` by `source`: a file opened
    /// (or refused), and bytes read.
    fn raise_stores(
        &mut self,
        activity: &Activity,
        (source, server): (IpAddr, IpAddr),
        user: Option<&str>,
        (opening, bytes): (Option<String>, u64),
        summary: String,
        alerts: &mut Alerts<'_>,
    ) {
        let key = format!("{source} {server}");
        let (files, read) = self.episodes.tallied(&key, activity.time, opening, bytes);
        let any_opened = read > 0 || files.iter().any(|f| f.ends_with("(opened)"));
        let who = user.unwrap_or("an unknown account");
        let finding = Finding {
            severity: if any_opened { META.base_severity } else { Severity::Medium },
            description: format!(
                "{who} on {source} {} credential stores from {server} over SMB: {}{}.",
                if any_opened { "copied" } else { "tried to copy" },
                files.iter().cloned().collect::<Vec<_>>().join(", "),
                if read > 0 { format!("; {} read", byte_count(read)) } else { String::new() },
            ),
            source: Finding::source_of(activity, user.map(str::to_owned)),
            targets: AlertTargets {
                computers: BTreeSet::from([server.to_string()]),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }

    fn excluded(&self, user: Option<&str>) -> bool {
        user.is_some_and(|u| lists_account(&self.config.exclude_actors, u))
    }

    fn file_read(
        &mut self,
        activity: &Activity,
        read: &FileRead,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let (Some(source), Some(server)) = (activity.source_ip(), activity.destination) else { return };
        if context.dcs().contains_address(source) || self.excluded(read.user.as_deref()) {
            return;
        }
        let path = share_path(read.share.as_deref(), &read.name);
        if let Some(holds) = credential_store(&read.name) {
            let summary = format!(
                "{} read {} of {path}: {holds}",
                read.user.as_deref().unwrap_or("an unknown account"),
                byte_count(read.bytes)
            );
            let reading = (None, read.bytes);
            self.raise_stores(activity, (source, server.ip), read.user.as_deref(), reading, summary, alerts);
        }
        if read.share.as_deref().is_some_and(administrative_share)
            && context.dcs().contains_address(server.ip)
        {
            self.admin_share_read(activity, (source, server.ip), read, &path, alerts);
        }
    }

    /// Bulk reads from a DC's administrative shares, summed per source and server over
    /// `admin_share_window_secs`.
    fn admin_share_read(
        &mut self,
        activity: &Activity,
        (source, server): (IpAddr, IpAddr),
        read: &FileRead,
        path: &str,
        alerts: &mut Alerts<'_>,
    ) {
        let window = i64::try_from(self.config.admin_share_window_secs).unwrap_or(i64::MAX);
        if !self.admin_reads.contains_key(&(source, server))
            && self.admin_reads.len() >= crate::window::MAX_SOURCES
        {
            self.admin_reads.retain(|_, (start, _)| start.saturating_add_secs(window) >= activity.time);
        }
        let (start, total) = self.admin_reads.entry((source, server)).or_insert((activity.time, 0));
        if start.saturating_add_secs(window) < activity.time {
            *start = activity.time;
            *total = 0;
        }
        *total = total.saturating_add(read.bytes);
        let total = *total;
        if total < self.config.min_admin_share_bytes {
            return;
        }
        let who = read.user.as_deref().unwrap_or("an unknown account");
        let key = format!("bulk {source} {server}");
        let files = self.episodes.named(&key, activity.time, [path.to_owned()]);
        let summary = format!("{who} read {} of {path}", byte_count(read.bytes));
        let finding = Finding {
            severity: Severity::High,
            description: format!(
                "{who} on {source} read {} from the administrative shares of domain controller {server} over SMB \
                 within {} minutes ({}): a bulk copy off the DC.",
                byte_count(total),
                self.config.admin_share_window_secs / 60,
                crate::names::name_list(files.iter(), 5),
            ),
            source: Finding::source_of(activity, read.user.clone()),
            targets: AlertTargets {
                computers: BTreeSet::from([server.to_string()]),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for SmbExfiltration {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        match &activity.kind {
            ActivityKind::FileOpened(file) => self.file_opened(activity, file, context, alerts),
            ActivityKind::FileRead(read) => self.file_read(activity, read, context, alerts),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

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
        assert_eq!(alert.count, 6, "three opened, three read: {alert:#?}");
        for file in ["temp\\ntds.dit (opened)", "temp\\SYSTEM.save (opened)", "temp\\SAM.save (opened)"] {
            assert!(alert.description.contains(file), "{file}: {}", alert.description);
        }
        // 512 KiB + 256 KiB + 64 KiB, each file's READs summed at its CLOSE.
        assert!(alert.description.ends_with("; 851968 bytes read."), "{}", alert.description);
        assert!(
            alert.evidence.iter().any(|e| e
                .summary
                .contains("read 524288 bytes of \\\\10.99.0.10\\sysvol\\lab.test\\temp\\ntds.dit")),
            "{:#?}",
            alert.evidence
        );
    }

    #[test]
    fn fires_on_a_bulk_copy_from_a_dcs_administrative_share() {
        // From C$ (defined on the lab DC for the recording): 1.5 MB by the attacker's host,
        // 200 KB by the workstation. The default 50 MiB is lowered to 1 MB for this recording.
        let mut config =
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() };
        config.settings_mut::<SmbExfiltration>().min_admin_share_bytes = 1_000_000;
        let alerts = extra_alerts("smb_admin_share_copy", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.severity, Severity::High);
        assert!(
            alert
                .description
                .contains("read 1.5 MB from the administrative shares of domain controller 10.99.0.10")
                && alert.description.contains("C$\\Windows\\Temp\\backup.vhd"),
            "{}",
            alert.description
        );
        // Under the default threshold, or without knowing the server is a DC: nothing.
        let default_threshold =
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("smb_admin_share_copy", META.id, &default_threshold).is_empty());
        config.domain_controllers.clear();
        assert!(extra_alerts("smb_admin_share_copy", META.id, &config).is_empty());
        assert!(administrative_share("\\\\dc1\\ADMIN$") && administrative_share("\\\\dc1\\d$"));
        assert!(!administrative_share("\\\\dc1\\IPC$") && !administrative_share("\\\\dc1\\sysvol"));
    }

    #[test]
    fn silent_for_an_excluded_backup_host_and_for_policy_reads() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<SmbExfiltration>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(extra_alerts("smb_ntds_exfil", META.id, &config).is_empty());
        // A workstation reading GPT.INI and GptTmpl.inf from SYSVOL as at every logon.
        assert!(extra_alerts("benign_sysvol_read", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_benign_logs_and_captures() {
        assert_silent_on_logs_and_captures(META.id);
    }
}
