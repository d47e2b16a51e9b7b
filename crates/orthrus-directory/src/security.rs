//! Security descriptors of directory objects (`nTSecurityDescriptor`): their discretionary
//! ACL as access control entries, read from the SDDL text a Windows DC's 5136 carries
//! (MS-DTYP 2.5.1) or from the self-relative binary form LDAP and Samba's audit give
//! (MS-DTYP 2.4.6). Our own reader, as `crates.md` decides (the one crate for it is young and
//! has one author): small, bounded, and fuzzed (`security_descriptor`).

use crate::ad::guid_to_string;

/// An access right, or a set of them, in an ACE's mask (MS-DTYP 2.4.3, MS-ADTS 5.1.3.2).
pub mod right {
    pub const CREATE_CHILD: u32 = 0x1;
    pub const DELETE_CHILD: u32 = 0x2;
    pub const SELF_WRITE: u32 = 0x8;
    pub const WRITE_PROPERTY: u32 = 0x20;
    pub const CONTROL_ACCESS: u32 = 0x100;
    pub const WRITE_DAC: u32 = 0x4_0000;
    pub const WRITE_OWNER: u32 = 0x8_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
}

/// ACE flag: the ACE applies to children only, not to the object itself.
pub const INHERIT_ONLY: u8 = 0x08;

/// At most this many ACEs are read from one descriptor: a DACL holds at most 64 KiB, and the
/// smallest ACE is 16 bytes.
const MAX_ACES: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ace {
    /// An allow ACE (plain or object); deny and audit ACEs are read as `false`.
    pub allow: bool,
    pub flags: u8,
    pub mask: u32,
    /// The property, property set, extended right or child class the ACE is limited to (a
    /// GUID, lower case).
    pub object_type: Option<String>,
    /// The class of descendants an inheritable ACE applies to.
    pub inherited_object_type: Option<String>,
    /// A SID (`S-1-5-21-…-1104`), or an SDDL alias (`DA`, `SY`) as the text gave it.
    pub trustee: String,
}

/// The discretionary ACEs of a security descriptor in SDDL text
/// (`O:DAG:DAD:AI(A;;RPWP;;;S-1-5-21-1-2-3-1104)(OA;CI;CR;1131f6aa-…;;DA)S:…`). ACEs that do
/// not parse are left out; `None` when the text holds no DACL.
pub fn dacl_from_sddl(text: &str) -> Option<Vec<Ace>> {
    let (_, rest) = text.split_once("D:")?;
    let dacl = rest.split_once("S:").map_or(rest, |(dacl, _)| dacl);
    let mut aces = Vec::new();
    for entry in dacl.split('(').skip(1).take(MAX_ACES) {
        let Some(body) = entry.split(')').next() else { continue };
        if let Some(ace) = sddl_ace(body) {
            aces.push(ace);
        }
    }
    Some(aces)
}

fn sddl_ace(body: &str) -> Option<Ace> {
    let fields: Vec<&str> = body.split(';').collect();
    let [kind, flags, rights, object, inherited, trustee] = fields.as_slice() else { return None };
    let allow = match *kind {
        "A" | "OA" => true,
        "D" | "OD" | "AU" | "OU" | "AL" | "OL" | "ML" => false,
        _ => return None,
    };
    let flags = pairs(flags).try_fold(0u8, |acc, pair| {
        Some(
            acc | match pair {
                "OI" => 0x01,
                "CI" => 0x02,
                "NP" => 0x04,
                "IO" => INHERIT_ONLY,
                "ID" => 0x10,
                "SA" => 0x40,
                "FA" => 0x80,
                _ => return None,
            },
        )
    })?;
    let mask = sddl_rights(rights)?;
    let trustee = trustee.trim();
    if trustee.is_empty() {
        return None;
    }
    let guid = |text: &str| (!text.is_empty()).then(|| text.to_ascii_lowercase());
    Some(Ace {
        allow,
        flags,
        mask,
        object_type: guid(object),
        inherited_object_type: guid(inherited),
        trustee: trustee.to_owned(),
    })
}

/// `RPWPCR` → its bits; `0x…` as the number.
fn sddl_rights(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    pairs(text).try_fold(0u32, |acc, pair| {
        Some(
            acc | match pair {
                "CC" => right::CREATE_CHILD,
                "DC" => right::DELETE_CHILD,
                "LC" => 0x4,
                "SW" => right::SELF_WRITE,
                "RP" => 0x10,
                "WP" => right::WRITE_PROPERTY,
                "DT" => 0x40,
                "LO" => 0x80,
                "CR" => right::CONTROL_ACCESS,
                "SD" => 0x1_0000,
                "RC" => 0x2_0000,
                "WD" => right::WRITE_DAC,
                "WO" => right::WRITE_OWNER,
                "GA" => right::GENERIC_ALL,
                "GX" => 0x2000_0000,
                "GW" => right::GENERIC_WRITE,
                "GR" => 0x8000_0000,
                _ => return None,
            },
        )
    })
}

/// Two-letter tokens; `None` items for an odd tail make the caller fail.
fn pairs(text: &str) -> impl Iterator<Item = &str> {
    (0..text.len()).step_by(2).map(move |i| text.get(i..i + 2).unwrap_or("?"))
}

/// The discretionary ACEs of a descriptor as an event gives it: SDDL text (a Windows DC's
/// 5136), else base64 of the binary form (Samba's audit).
pub fn dacl_from_value(text: &str) -> Option<Vec<Ace>> {
    use base64::Engine;
    let text = text.trim();
    if text.contains("D:") {
        return dacl_from_sddl(text);
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    dacl_from_binary(&bytes)
}

/// The discretionary ACEs of a self-relative binary security descriptor (those that fit,
/// when it is cut short); `None` when its header is damaged or it has no DACL.
pub fn dacl_from_binary(bytes: &[u8]) -> Option<Vec<Ace>> {
    let revision = *bytes.first()?;
    let control = u16::from_le_bytes(bytes.get(2..4)?.try_into().ok()?);
    const SELF_RELATIVE: u16 = 0x8000;
    const DACL_PRESENT: u16 = 0x0004;
    if revision != 1 || control & SELF_RELATIVE == 0 || control & DACL_PRESENT == 0 {
        return None;
    }
    let offset = u32_at(bytes, 16)? as usize;
    if offset == 0 {
        return None;
    }
    let acl = bytes.get(offset..)?;
    let size = usize::from(u16::from_le_bytes(acl.get(2..4)?.try_into().ok()?));
    let count = usize::from(u16::from_le_bytes(acl.get(4..6)?.try_into().ok()?));
    // A descriptor cut short (Samba's audit keeps a value's first 1024 bytes) gives the ACEs
    // it holds whole; ACEs come in order, so those are the first ones.
    let acl = acl.get(..size).unwrap_or(acl);
    let mut aces = Vec::new();
    let mut at = 8;
    for _ in 0..count.min(MAX_ACES) {
        let Some(&[_, _, low, high]) = acl.get(at..at + 4) else { break };
        let ace_size = usize::from(u16::from_le_bytes([low, high]));
        let Some(ace) = acl.get(at..at + ace_size).filter(|_| ace_size >= 8) else { break };
        if let Some(read) = binary_ace(ace) {
            aces.push(read);
        }
        at += ace_size;
    }
    Some(aces)
}

fn binary_ace(ace: &[u8]) -> Option<Ace> {
    let (&kind, rest) = ace.split_first()?;
    let &flags = rest.first()?;
    let mask = u32_at(ace, 4)?;
    let (allow, object) = match kind {
        0x00 => (true, false),
        0x01 | 0x02 => (false, false),
        0x05 => (true, true),
        0x06 | 0x07 => (false, true),
        // Callback and other ACEs: conditions the reader does not judge.
        _ => return None,
    };
    let mut at = 8;
    let (mut object_type, mut inherited_object_type) = (None, None);
    if object {
        let present = u32_at(ace, 8)?;
        at = 12;
        if present & 0x1 != 0 {
            object_type = guid_to_string(ace.get(at..at + 16)?);
            at += 16;
        }
        if present & 0x2 != 0 {
            inherited_object_type = guid_to_string(ace.get(at..at + 16)?);
            at += 16;
        }
    }
    let trustee = sid_text(ace.get(at..)?)?;
    Some(Ace { allow, flags, mask, object_type, inherited_object_type, trustee })
}

/// A binary SID as `S-1-…`, when it fits in `bytes`.
fn sid_text(bytes: &[u8]) -> Option<String> {
    let authorities = usize::from(*bytes.get(1)?);
    orthrus_proto::wire::sid_to_string(bytes.get(..8 + 4 * authorities)?)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Whether a trustee is one Windows itself gives these rights to: the domain's and
/// enterprise's administrators, SYSTEM, the DCs, Creator Owner, Self, Builtin Administrators.
pub fn is_builtin_administrator(trustee: &str) -> bool {
    const ALIASES: &[&str] = &["DA", "EA", "BA", "SY", "ED", "DD", "RO", "CO", "PS", "SA", "CA"];
    if ALIASES.contains(&trustee) {
        return true;
    }
    if ["S-1-5-18", "S-1-5-9", "S-1-5-10", "S-1-3-0", "S-1-5-32-544"].contains(&trustee) {
        return true;
    }
    // Domain Admins, Cert Publishers, Schema Admins, Enterprise Admins, Domain Controllers,
    // Enterprise Read-only DCs, Read-only DCs.
    trustee.starts_with("S-1-5-21-")
        && matches!(crate::ad::rid(trustee), Some(512 | 516 | 517 | 518 | 519 | 498 | 521))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sddl_aces_are_read_with_their_rights_objects_and_trustees() {
        let sddl = "O:BAG:BAD:AI(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;S-1-5-21-1-2-3-1234)\
                    (A;CIID;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA)(D;;DC;;;WD)(OA;CIIO;RP;4c164200-20c0-11d0-a768-00aa006e0529;\
                    bf967aba-0de6-11d0-a285-00aa003049e2;RU)(XX;;RP;;;AU)S:AI(OU;CIIOIDSA;WP;;;WD)";
        let aces = dacl_from_sddl(sddl).unwrap();
        assert_eq!(aces.len(), 4, "the unknown ACE type is left out, the SACL not read: {aces:?}");
        assert_eq!(aces[0].mask, right::CONTROL_ACCESS);
        assert_eq!(aces[0].object_type.as_deref(), Some("1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"));
        assert_eq!(aces[0].trustee, "S-1-5-21-1-2-3-1234");
        assert!(aces[1].mask & right::WRITE_DAC != 0 && aces[1].flags & 0x10 != 0);
        assert!(!aces[2].allow);
        assert_eq!(aces[3].flags & INHERIT_ONLY, INHERIT_ONLY);
        assert_eq!(aces[3].inherited_object_type.as_deref(), Some("bf967aba-0de6-11d0-a285-00aa003049e2"));
        assert_eq!(dacl_from_sddl("(A;;0x10000000;;;S-1-1-0)").map(|a| a.len()), None, "no D: part");
        assert_eq!(dacl_from_sddl("D:(A;;0x10000000;;;WD)").unwrap()[0].mask, right::GENERIC_ALL);
    }

    #[test]
    fn binary_descriptors_are_read_and_damage_is_refused() {
        // Samba's audit of `samba-tool dsacl set` on a GPO: the descriptor as it logged it.
        let sd = base64_decode(SAMBA_GPO_DESCRIPTOR);
        let aces = dacl_from_binary(&sd).unwrap();
        assert!(aces.iter().any(|a| a.allow
            && a.trustee == "S-1-5-21-2896701586-1029991693-514247211-1104"
            && a.mask & right::WRITE_PROPERTY != 0));
        assert!(aces.iter().any(|a| a.trustee.ends_with("-512")), "Domain Admins: {aces:?}");
        for cut in [0, 1, 19, 40] {
            assert!(dacl_from_binary(&sd[..cut]).is_none_or(|a| a.is_empty()), "{cut}");
        }
        // Cut inside the DACL's last ACE: the whole ACEs before the cut.
        let cut = dacl_from_binary(&sd[..sd.len() - 10]).unwrap();
        assert_eq!(cut, aces[..aces.len() - 1]);
        assert!(
            dacl_from_binary(&[1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none()
        );
        assert!(is_builtin_administrator("S-1-5-21-1-2-3-512") && is_builtin_administrator("SY"));
        assert!(!is_builtin_administrator("S-1-5-21-1-2-3-1104") && !is_builtin_administrator("AU"));
    }

    /// The Default Domain Policy's descriptor as the lab DC's audit logged it after
    /// `samba-tool dsacl set` gave bob (RID 1104) read and write on it.
    const SAMBA_GPO_DESCRIPTOR: &str = include_str!("../../../testdata/directory/samba-gpo-descriptor.b64");

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(text.trim()).unwrap()
    }

    #[test]
    fn values_are_read_in_either_form() {
        assert_eq!(
            dacl_from_value(SAMBA_GPO_DESCRIPTOR),
            dacl_from_binary(&base64_decode(SAMBA_GPO_DESCRIPTOR))
        );
        assert_eq!(dacl_from_value("O:DAD:(A;;GA;;;DA)").map(|a| a.len()), Some(1));
        assert_eq!(dacl_from_value("not a descriptor"), None);
    }
}
