//! The registry: every detection Orthrus implements, one line each.
//! `orthrus detections list` and docs/DETECTIONS.md are generated from it.

pub mod credential;
pub mod foreign_rpc;
pub mod kerberos;
pub mod ldap;
pub mod ntlm;
pub mod recon;
pub mod windows;

use std::any::TypeId;

use crate::settings::AnySettings;
use crate::{Detection, DetectionConfig, DetectionMeta, Detector, Settings};
use foreign_rpc::ForeignRpc;

/// A detection's settings read from its config section.
type ParsedSettings = Result<Box<dyn AnySettings>, toml::de::Error>;

/// One detection in the registry: what it is, the settings type its config section holds, and
/// how it starts. Made by [`DetectionEntry::of`] from the detection's type.
pub struct DetectionEntry {
    pub meta: &'static DetectionMeta,
    build: fn(&DetectionConfig) -> Box<dyn Detector>,
    parse_settings: fn(Option<&toml::Value>) -> ParsedSettings,
    default_settings: fn() -> Box<dyn AnySettings>,
    settings_type: fn() -> TypeId,
}

impl DetectionEntry {
    pub const fn of<D: Detection>() -> Self {
        Self {
            meta: D::META,
            build: build::<D>,
            parse_settings: parse_settings::<D::Settings>,
            default_settings: default_settings::<D::Settings>,
            settings_type: TypeId::of::<D::Settings>,
        }
    }

    /// The detection, started from its settings in `config`.
    pub fn build(&self, config: &DetectionConfig) -> Box<dyn Detector> {
        (self.build)(config)
    }

    /// Its settings from its config section (absent: the defaults).
    pub fn parse_settings(
        &self,
        section: Option<&toml::Value>,
    ) -> Result<Box<dyn AnySettings>, toml::de::Error> {
        (self.parse_settings)(section)
    }

    pub fn default_settings(&self) -> Box<dyn AnySettings> {
        (self.default_settings)()
    }

    /// The type of its settings (detections sharing a section must share it).
    pub fn settings_type(&self) -> TypeId {
        (self.settings_type)()
    }
}

fn build<D: Detection>(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(D::new(&config.settings::<D>()))
}

fn parse_settings<S: Settings>(
    section: Option<&toml::Value>,
) -> Result<Box<dyn AnySettings>, toml::de::Error> {
    Ok(Box::new(match section {
        Some(value) => value.clone().try_into::<S>()?,
        None => S::default(),
    }))
}

fn default_settings<S: Settings>() -> Box<dyn AnySettings> {
    Box::new(S::default())
}

pub const DETECTIONS: &[DetectionEntry] = &[
    DetectionEntry::of::<kerberos::kerberoasting::Kerberoasting>(),
    DetectionEntry::of::<kerberos::asrep_roasting::AsRepRoasting>(),
    DetectionEntry::of::<kerberos::account_enumeration::AccountEnumeration>(),
    DetectionEntry::of::<kerberos::brute_force::BruteForce>(),
    DetectionEntry::of::<kerberos::honeytoken::Honeytoken>(),
    DetectionEntry::of::<kerberos::golden_ticket_nonexistent::GoldenTicketNonexistent>(),
    DetectionEntry::of::<kerberos::forged_pac::ForgedPac>(),
    DetectionEntry::of::<kerberos::golden_ticket_lifetime::GoldenTicketLifetime>(),
    DetectionEntry::of::<kerberos::golden_ticket_kvno::GoldenTicketKvno>(),
    DetectionEntry::of::<kerberos::golden_ticket_downgrade::GoldenTicketDowngrade>(),
    DetectionEntry::of::<kerberos::pass_the_ticket::PassTheTicket>(),
    DetectionEntry::of::<kerberos::unusual_implementation::UnusualKerberos>(),
    DetectionEntry::of::<ntlm::account_enumeration::NtlmAccountEnumeration>(),
    DetectionEntry::of::<ntlm::brute_force::NtlmBruteForce>(),
    DetectionEntry::of::<ntlm::tampering::NtlmTampering>(),
    DetectionEntry::of::<ntlm::relay::NtlmRelay>(),
    DetectionEntry::of::<ntlm::unusual_implementation::SmbBruteForce>(),
    DetectionEntry::of::<ldap::brute_force::LdapBruteForce>(),
    DetectionEntry::of::<windows::dcsync::Dcsync>(),
    DetectionEntry::of::<windows::sensitive_groups::SensitiveGroups>(),
    DetectionEntry::of::<windows::service_creation::ServiceCreation>(),
    DetectionEntry::of::<windows::remote_execution::RemoteExecution>(),
    DetectionEntry::of::<windows::log_cleared::LogCleared>(),
    DetectionEntry::of::<windows::sid_history::SidHistory>(),
    DetectionEntry::of::<windows::adminsdholder::AdminSdHolder>(),
    DetectionEntry::of::<windows::rbcd::Rbcd>(),
    DetectionEntry::of::<windows::shadow_credentials::ShadowCredentials>(),
    DetectionEntry::of::<windows::gpo_tampering::GpoTampering>(),
    DetectionEntry::of::<windows::dnshostname_spoofing::DnsHostNameSpoofing>(),
    DetectionEntry::of::<windows::dsrm::Dsrm>(),
    DetectionEntry::of::<windows::disguised_account::DisguisedAccount>(),
    DetectionEntry::of::<windows::delegation_granted::DelegationGranted>(),
    DetectionEntry::of::<windows::spn_added::SpnAdded>(),
    DetectionEntry::of::<windows::trust_changed::TrustChanged>(),
    DetectionEntry::of::<windows::permissions_granted::PermissionsGranted>(),
    DetectionEntry::of::<windows::esx_admins_group::EsxAdminsGroup>(),
    DetectionEntry::of::<windows::massive_deletion::MassiveDeletion>(),
    DetectionEntry::of::<windows::azureadssoacc::SeamlessSsoTakeover>(),
    DetectionEntry::of::<windows::honeytoken_attributes::HoneytokenAttributes>(),
    DetectionEntry::of::<windows::honeytoken_group::HoneytokenGroup>(),
    DetectionEntry::of::<windows::samaccountname_spoofing::SamAccountNameSpoofing>(),
    DetectionEntry::of::<windows::dcshadow::DcShadow>(),
    DetectionEntry::of::<ForeignRpc<windows::dcshadow_replication::DcShadowReplication>>(),
    DetectionEntry::of::<windows::zerologon::Zerologon>(),
    DetectionEntry::of::<windows::netsync::NetSync>(),
    DetectionEntry::of::<ForeignRpc<windows::print_spooler::PrintSpooler>>(),
    DetectionEntry::of::<ForeignRpc<windows::petitpotam::PetitPotam>>(),
    DetectionEntry::of::<ForeignRpc<windows::dfs_coerce::DfsCoerce>>(),
    DetectionEntry::of::<recon::zone_transfer::ZoneTransfer>(),
    DetectionEntry::of::<ForeignRpc<recon::session_enumeration::SessionEnumeration>>(),
    DetectionEntry::of::<ForeignRpc<credential::dpapi_backup_key::DpapiBackupKey>>(),
    DetectionEntry::of::<credential::smb_exfiltration::SmbExfiltration>(),
    DetectionEntry::of::<credential::adfs_dkm_read::AdfsDkmRead>(),
    DetectionEntry::of::<recon::honeytoken_ldap_query::HoneytokenLdapQuery>(),
    DetectionEntry::of::<recon::honeytoken_samr_query::HoneytokenSamrQuery>(),
    DetectionEntry::of::<recon::samr_membership::SamrRecon>(),
    DetectionEntry::of::<recon::ldap_recon::LdapRecon>(),
    DetectionEntry::of::<recon::ldap_attributes::LdapAttributes>(),
    DetectionEntry::of::<recon::cldap_enumeration::CldapEnumeration>(),
];

/// The registry entry of the detection with this id (`ORT-KRB-003`).
pub fn meta(id: &str) -> Option<&'static DetectionMeta> {
    DETECTIONS.iter().map(|e| e.meta).find(|m| m.id == id)
}

/// The catalogue as Markdown: `docs/DETECTIONS.md` is this text, and a test fails when the
/// committed file differs.
pub fn catalogue_markdown() -> String {
    let config = DetectionConfig::default();
    let mut text = String::from(
        "# Detections\n\nGenerated by `orthrus detections list --format markdown` from the registry; \
         do not edit by hand. Thresholds are the defaults, overridable in the `--config` TOML \
         file under the section named.\n\n\
         | id | name | MDI alert | MITRE ATT&CK | data | severity | thresholds |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for entry in DETECTIONS {
        let m = entry.meta;
        let thresholds: Vec<String> = config
            .thresholds(m.config_section)
            .into_iter()
            .map(|(k, v)| format!("`{}.{k} = {v}`", m.config_section))
            .collect();
        text.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {} | {} | {} |\n",
            m.id,
            m.title,
            m.mdi,
            m.techniques.join(", "),
            m.tactic,
            m.data_sources.join("; "),
            if m.escalates_for_sensitive {
                format!("{} (+1 for a sensitive or honeytoken target)", m.base_severity)
            } else {
                m.base_severity.to_string()
            },
            thresholds.join("<br>")
        ));
    }
    text.push_str(
        "\n## Responding to an alert\n\nWhat each detection means, what the attacker gains, and what to do: \
         the alert page, the API's alert (`guidance`) and `orthrus detections show ID` say the same.\n",
    );
    for entry in DETECTIONS {
        let m = entry.meta;
        text.push_str(&format!(
            "\n### {} {}\n\n{}\n\n**Impact:** {}\n\n",
            m.id, m.title, m.meaning, m.impact
        ));
        for (n, action) in m.actions.iter().enumerate() {
            text.push_str(&format!("{}. {action}\n", n + 1));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_catalogue_is_current() {
        let path = orthrus_testkit::testdata().join("../docs/DETECTIONS.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = super::catalogue_markdown();
        if std::env::var_os("ORTHRUS_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        assert_eq!(committed, generated, "docs/DETECTIONS.md is stale: run with ORTHRUS_BLESS=1");
    }

    /// Every detection tells an analyst what it means, its impact and what to do: sentences
    /// (the page prints them as they are), several actions, no two detections with the same
    /// text copied over.
    #[test]
    fn every_detection_says_what_it_means_and_what_to_do() {
        let sentence = |text: &str| {
            text.len() >= 20 && text.starts_with(|c: char| c.is_uppercase()) && text.ends_with(['.', ')'])
        };
        let mut meanings = std::collections::HashSet::new();
        for entry in super::DETECTIONS {
            let m = entry.meta;
            assert!(sentence(m.meaning), "{}: meaning {:?}", m.id, m.meaning);
            assert!(sentence(m.impact), "{}: impact {:?}", m.id, m.impact);
            assert!(m.actions.len() >= 2, "{}: only {} actions", m.id, m.actions.len());
            for action in m.actions {
                assert!(sentence(action), "{}: action {action:?}", m.id);
            }
            assert!(meanings.insert(m.meaning), "{}: meaning copied from another detection", m.id);
        }
        let dcsync = super::meta("ORT-DRS-001").unwrap();
        assert!(dcsync.actions.iter().any(|a| a.contains("replication rights")));
        assert!(dcsync.actions.iter().any(|a| a.contains("krbtgt password twice")));
        assert!(dcsync.actions.iter().any(|a| a.contains("Isolate the source")));
    }

    #[test]
    fn ids_are_unique_and_stable_in_form() {
        let mut ids: Vec<&str> = super::DETECTIONS.iter().map(|d| d.meta.id).collect();
        // ORT-, an area of three or four capitals, a dash, three digits.
        let well_formed = |id: &str| {
            let mut parts = id.split('-');
            parts.next() == Some("ORT")
                && parts
                    .next()
                    .is_some_and(|a| (3..=4).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_uppercase()))
                && parts.next().is_some_and(|n| n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()))
                && parts.next().is_none()
        };
        assert!(ids.iter().all(|id| well_formed(id)), "{ids:?}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), super::DETECTIONS.len());
    }

    /// Detections sharing a config section read it as the same settings type.
    #[test]
    fn a_shared_section_has_one_settings_type() {
        for a in super::DETECTIONS {
            for b in super::DETECTIONS {
                if a.meta.config_section == b.meta.config_section {
                    assert_eq!(a.settings_type(), b.settings_type(), "{} and {}", a.meta.id, b.meta.id);
                }
            }
        }
    }
}
