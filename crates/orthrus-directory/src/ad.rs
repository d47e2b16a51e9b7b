//! Active Directory's binary and encoded attribute values.
//!
//! Our own: each format is a few lines and no maintained crate decodes them without pulling a
//! whole Windows API layer (crates.md, "AD binary attributes").

use orthrus_model::Timestamp;

/// `userAccountControl` bits Orthrus reads (MS-ADTS 2.2.16).
pub mod uac {
    pub const NORMAL_ACCOUNT: u32 = 0x0000_0200;
    pub const WORKSTATION_TRUST_ACCOUNT: u32 = 0x0000_1000;
    pub const SERVER_TRUST_ACCOUNT: u32 = 0x0000_2000;
    /// Unconstrained delegation: the KDC puts each visitor's TGT in tickets to this account.
    pub const TRUSTED_FOR_DELEGATION: u32 = 0x0008_0000;
    pub const DONT_REQUIRE_PREAUTH: u32 = 0x0040_0000;
    /// Protocol transition: S4U2self tickets for any user are forwardable, so constrained
    /// delegation works without the user's own ticket.
    pub const TRUSTED_TO_AUTH_FOR_DELEGATION: u32 = 0x0100_0000;
    /// A read-only DC's computer account.
    pub const PARTIAL_SECRETS_ACCOUNT: u32 = 0x0400_0000;
}

pub use orthrus_proto::wire::sid_to_string;

/// A binary GUID (mixed-endian, MS-DTYP 2.3.4.2) as lower-case text.
pub fn guid_to_string(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

/// Windows FILETIME (100 ns since 1601) in its LDAP text form; 0 and "never" are None.
pub fn filetime(text: &str) -> Option<Timestamp> {
    let ticks: i64 = text.trim().parse().ok()?;
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;
    Some(Timestamp::from_micros((ticks - UNIX_EPOCH_AS_FILETIME) / 10))
}

/// LDAP GeneralizedTime as AD writes it (`20261201134805.0Z`).
pub fn generalized_time(text: &str) -> Option<Timestamp> {
    let digits = text.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let civil = format!(
        "{}-{}-{}T{}:{}:{}",
        digits.get(..4)?,
        digits.get(4..6)?,
        digits.get(6..8)?,
        digits.get(8..10)?,
        digits.get(10..12)?,
        digits.get(12..14)?
    );
    let dt: jiff::civil::DateTime = civil.parse().ok()?;
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()?;
    Some(Timestamp::from_micros(ts.as_microsecond()))
}

/// The relative id: the last sub-authority of a SID.
pub fn rid(sid: &str) -> Option<u32> {
    sid.rsplit('-').next()?.parse().ok()
}

/// The SID's domain part (all but the RID).
pub fn domain_part(sid: &str) -> Option<&str> {
    sid.rsplit_once('-').map(|(domain, _)| domain)
}

/// `DC=lab,DC=test` → `lab.test`.
pub fn dns_name_of_dn(dn: &str) -> String {
    dn.split(',')
        .filter_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            key.eq_ignore_ascii_case("dc").then(|| value.to_ascii_lowercase())
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The RDN's value: `CN=IT Staff,OU=…` → `IT Staff`.
pub fn rdn_value(dn: &str) -> &str {
    let first = dn.split(',').next().unwrap_or(dn);
    first.split_once('=').map_or(first, |(_, value)| value)
}

/// The GPO GUIDs a `gPLink` value links, in its order, upper case with braces:
/// `[LDAP://cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=lab,DC=test;0]`
/// → `{31B2F340-016D-11D2-945F-00C04FB984F9}`. Links whose options disable them (bit 0) are
/// left out; malformed parts are skipped.
pub fn gp_link_guids(value: &str) -> Vec<String> {
    value
        .split('[')
        .filter_map(|link| {
            let (path, options) = link.trim_end_matches(']').rsplit_once(';')?;
            if options.trim().parse::<u32>().is_ok_and(|o| o & 1 != 0) {
                return None;
            }
            let start = path.find('{')?;
            let end = start + path.get(start..)?.find('}')?;
            Some(path.get(start..=end)?.to_ascii_uppercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gp_links_name_their_gpos_and_skip_disabled_ones() {
        let value = "[LDAP://cn={31b2f340-016d-11d2-945f-00c04fb984f9},cn=policies,cn=system,DC=lab,DC=test;0]\
                     [LDAP://CN={6AC1786C-016F-11D2-945F-00C04fB984F9},CN=Policies,CN=System,DC=lab,DC=test;1]\
                     [LDAP://cn={0F1E2D3C-0000-1111-2222-333344445555},cn=policies,cn=system,DC=lab,DC=test;2]";
        assert_eq!(
            gp_link_guids(value),
            ["{31B2F340-016D-11D2-945F-00C04FB984F9}", "{0F1E2D3C-0000-1111-2222-333344445555}"]
        );
        assert!(gp_link_guids("").is_empty());
        assert!(gp_link_guids("[LDAP://cn={unterminated;0]").is_empty());
        assert!(gp_link_guids("[[[;;;]]]").is_empty());
    }

    #[test]
    fn decodes_a_domain_sid_and_its_parts() {
        // S-1-5-21-3538352689-76488004-2016120183-512, as AD stores it
        let mut bytes = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 3_538_352_689, 76_488_004, 2_016_120_183, 512] {
            bytes.extend_from_slice(&sub.to_le_bytes());
        }
        let sid = sid_to_string(&bytes).unwrap();
        assert_eq!(sid, "S-1-5-21-3538352689-76488004-2016120183-512");
        assert_eq!(rid(&sid), Some(512));
        assert_eq!(domain_part(&sid), Some("S-1-5-21-3538352689-76488004-2016120183"));
        assert_eq!(sid_to_string(&bytes[..bytes.len() - 1]), None, "truncated");
        assert_eq!(sid_to_string(&[]), None);
    }

    #[test]
    fn decodes_guid_and_times() {
        let guid =
            [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        assert_eq!(guid_to_string(&guid).unwrap(), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(guid_to_string(&guid[..3]), None);
        assert_eq!(filetime("0"), None);
        assert_eq!(filetime("9223372036854775807"), None);
        assert_eq!(filetime("134092840000000000").unwrap().to_string(), "2025-12-04T01:06:40Z");
        assert_eq!(generalized_time("20261201134805.0Z").unwrap().to_string(), "2026-12-01T13:48:05Z");
        assert_eq!(generalized_time("2026"), None);
        assert_eq!(dns_name_of_dn("DC=Lab,DC=test"), "lab.test");
        assert_eq!(rdn_value("CN=IT Staff,CN=Users,DC=lab,DC=test"), "IT Staff");
    }
}
