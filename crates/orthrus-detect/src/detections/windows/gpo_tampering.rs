//! ORT-EVT-011 — Group Policy tampering: a GPO edited to turn Microsoft Defender off.
//!
//! - Attack: with rights on a GPO (a Domain Admin, a delegated GPO editor, SharpGPOAbuse /
//!   pyGPOAbuse), the attacker writes registry policies into the GPO's `Registry.pol` in
//!   SYSVOL that disable Defender on every computer the GPO applies to, then raises its
//!   version so they all apply it — clearing the way for ransomware.
//! - ATT&CK: T1484.001, T1562.001 (MDI lists T1553). MDI: Group Policy Tampering (2440).
//! - Data: NET: the `Registry.pol` written over SMB to a DC's SYSVOL (SMB2 CREATE + WRITEs,
//!   read at CLOSE and parsed as PReg): the settings the file now holds, the writer.
//! - Logic: a policy file whose settings under `Software\Policies\Microsoft\Windows
//!   Defender` turn protection off ([`disables_defender`]: DisableAntiSpyware,
//!   DisableAntiVirus, DisableRealtimeMonitoring, DisableBehaviorMonitoring,
//!   DisableIOAVProtection, DisableOnAccessProtection, DisableScriptScanning = 1). Medium (as
//!   MDI). One alert per GPO and quiet gap `window_secs` (config `[gpo_tampering]`), naming
//!   the GPO (its GUID from the path), the settings and, with a directory snapshot, where
//!   the GPO is linked (the domain root and OUs whose gPLink names it).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: an organisation that runs another antivirus and turns Defender off by policy —
//!   exclude the admin (`exclude_actors`) or the admin host (`exclude_sources`).
//! - Gaps: SMB3-encrypted sessions hide the file; GPO edits made on the DC itself (GPMC on
//!   the DC) never cross the wire; links through sites are not read.
//! - Evidence: the write (create and write frames), writer, GPO path, settings, linked scopes.

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-011",
    title: "Group Policy tampering (antivirus disabled)",
    mdi: "Group Policy Tampering (2440)",
    external_id: 2440,
    cef_app: "Smb",
    tactic: "TA0005",
    techniques: &["T1484.001", "T1562.001", "T1553"],
    data_sources: &["Registry.pol written to SYSVOL over SMB (PReg settings)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "gpo_tampering",
    meaning: "A Group Policy object was edited to disable Microsoft Defender (real-time protection, the antivirus itself) on the computers it applies to.",
    impact: "Every computer the GPO reaches loses its protection: the usual prelude to ransomware.",
    actions: &[
        "Restore the GPO from backup and check the computers have applied the fixed version.",
        "Investigate the actor and review who can edit GPOs.",
        "Look for malware deployment in the same incident.",
    ],
};

const DEFENDER_KEY: &str = "software\\policies\\microsoft\\windows defender";
const DISABLING: &[&str] = &[
    "disableantispyware",
    "disableantivirus",
    "disablerealtimemonitoring",
    "disablebehaviormonitoring",
    "disableioavprotection",
    "disableonaccessprotection",
    "disablescriptscanning",
];

/// Whether a setting (`key\value = data`, as `policy_file_written` lists them) turns a part
/// of Microsoft Defender off.
pub fn disables_defender(setting: &str) -> bool {
    let lower = setting.to_ascii_lowercase();
    let Some((path, data)) = lower.split_once(" = ") else { return false };
    let Some((key, value)) = path.rsplit_once('\\') else { return false };
    key.starts_with(DEFENDER_KEY) && DISABLING.contains(&value) && data.trim() == "1"
}

/// The GPO a SYSVOL path belongs to: its `{GUID}` component.
fn gpo_of(path: &str) -> Option<&str> {
    path.split(['\\', '/']).find(|part| part.starts_with('{') && part.ends_with('}') && part.len() == 38)
}

impl Detection for GpoTampering {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        GpoTampering { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct GpoTampering {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for GpoTampering {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::PolicyFileWritten(write) = &activity.kind else { return };
        let disabling: Vec<&String> = write.settings.iter().filter(|s| disables_defender(s)).collect();
        if disabling.is_empty() {
            return;
        }
        let who = write.user.clone().unwrap_or_else(|| "an unknown account".into());
        if self.config.excludes(&who) {
            return;
        }
        let gpo = gpo_of(&write.name).unwrap_or(&write.name).to_owned();
        let scope =
            if write.name.to_ascii_lowercase().contains("\\machine\\") { "computers" } else { "users" };
        let key = gpo.to_lowercase();
        let summary =
            format!("{who} wrote {} ({} bytes): {}", write.name, write.bytes, write.settings.join("; "));
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{who} edited the Group Policy {gpo} from {} to turn Microsoft Defender off on the {scope} it \
                 applies to ({}){}.",
                activity.source_id(),
                disabling.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                match context.directory().gpo_links(&gpo).as_slice() {
                    [] => String::new(),
                    links => format!("; it is linked to {}", links.join(", ")),
                },
            ),
            source: Finding::source_of(activity, write.user.clone()),
            targets: AlertTargets {
                computers: activity.destination.map(|d| d.ip.to_string()).into_iter().collect(),
                ..AlertTargets::default()
            },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn reads_which_settings_disable_defender() {
        assert!(disables_defender("Software\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware = 1"));
        assert!(disables_defender(
            "Software\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection\\DisableRealtimeMonitoring = 1"
        ));
        assert!(!disables_defender(
            "Software\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware = 0"
        ));
        assert!(!disables_defender("Software\\Policies\\Microsoft\\Windows Defender\\PUAProtection = 1"));
        assert!(!disables_defender(
            "Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU\\NoAutoUpdate = 1"
        ));
        assert_eq!(
            gpo_of("lab.test\\Policies\\{31B2F340-016D-11D2-945F-00C04FB984F9}\\MACHINE\\Registry.pol"),
            Some("{31B2F340-016D-11D2-945F-00C04FB984F9}")
        );
    }

    #[test]
    fn fires_when_a_gpo_turns_defender_off() {
        // da_admin replaces the Default Domain Policy's Registry.pol over SMB with
        // DisableAntiSpyware=1 and DisableRealtimeMonitoring=1.
        let alerts = extra_alerts("gpo_defender_disabled", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\da_admin"));
        assert_eq!(alert.severity, Severity::Medium);
        assert!(
            alert.description.contains("edited the Group Policy {31B2F340-016D-11D2-945F-00C04FB984F9}")
                && alert.description.contains("to turn Microsoft Defender off on the computers")
                && alert.description.contains("DisableRealtimeMonitoring = 1"),
            "{}",
            alert.description
        );
        assert!(!alert.description.contains("linked to"), "no directory, no links: {}", alert.description);
        // With a directory synced from the lab DC (the Default Domain Policy's GUID is the same
        // in every domain), the alert says where the GPO applies.
        let config = crate::testing::extra::with_recording_directory(
            "overpass_windows_workstation",
            DetectionConfig::default(),
        );
        let alerts = extra_alerts("gpo_defender_disabled", META.id, &config);
        assert!(
            alerts[0].description.ends_with("; it is linked to DC=lab,DC=test."),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn silent_on_other_policy_edits_and_benign_traffic() {
        // An admin's edit setting Windows Update and Defender's PUA protection.
        assert!(extra_alerts("benign_gpo_edit", META.id, &DetectionConfig::default()).is_empty());
        let mut config = DetectionConfig::default();
        config.settings_mut::<GpoTampering>().exclude_actors = vec!["da_admin".into()];
        assert!(extra_alerts("gpo_defender_disabled", META.id, &config).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
