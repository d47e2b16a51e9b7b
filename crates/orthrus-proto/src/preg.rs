//! Group Policy registry files (`Registry.pol`, the PReg format of MS-GPREG 2.2.1): the
//! settings a GPO writes into the registry of the computers or users it applies to.
//!
//! ```text
//! "PReg" | version u32 (1) | entries: "[" key ";" value ";" type u32 ";" size u32 ";" data "]"
//! ```
//! Brackets, semicolons, key and value names are UTF-16LE (names NUL-terminated). No crate
//! reads this format; it is small enough to read here.

use crate::wire::{Cursor, utf16le};

/// One registry value a policy file sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySetting {
    pub key: String,
    pub value: String,
    /// REG_DWORD / REG_QWORD as a number, REG_SZ / REG_EXPAND_SZ as text, others in hex.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a PReg file")]
    NotPreg,
    #[error("truncated PReg entry")]
    Truncated,
}

/// Entries read at most from one file.
const MAX_ENTRIES: usize = 4096;

/// The settings of a `Registry.pol` file, in order.
pub fn parse(file: &[u8]) -> Result<Vec<PolicySetting>, DecodeError> {
    if file.get(..4) != Some(b"PReg") {
        return Err(DecodeError::NotPreg);
    }
    let mut c = Cursor::new(file.get(8..).ok_or(DecodeError::NotPreg)?);
    let mut settings = Vec::new();
    while !c.remaining().is_empty() && settings.len() < MAX_ENTRIES {
        settings.push(entry(&mut c).ok_or(DecodeError::Truncated)?);
    }
    Ok(settings)
}

fn expect(c: &mut Cursor<'_>, ch: char) -> Option<()> {
    (c.u16()? == ch as u16).then_some(())
}

/// A NUL-terminated UTF-16LE name.
fn name(c: &mut Cursor<'_>) -> Option<String> {
    let mut units = Vec::new();
    loop {
        match c.u16()? {
            0 => return Some(String::from_utf16_lossy(&units)),
            u if units.len() < 1024 => units.push(u),
            _ => return None,
        }
    }
}

fn entry(c: &mut Cursor<'_>) -> Option<PolicySetting> {
    expect(c, '[')?;
    let key = name(c)?;
    expect(c, ';')?;
    let value = name(c)?;
    expect(c, ';')?;
    let kind = c.u32()?;
    expect(c, ';')?;
    let size = usize::try_from(c.u32()?).ok()?;
    expect(c, ';')?;
    let bytes = c.take(size)?;
    expect(c, ']')?;
    let data = match (kind, bytes.len()) {
        (4, 4) => u32::from_le_bytes(bytes.try_into().ok()?).to_string(),
        (11, 8) => u64::from_le_bytes(bytes.try_into().ok()?).to_string(),
        (1 | 2, _) => utf16le(bytes),
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    };
    Some(PolicySetting { key, value, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn dword_entry(key: &str, value: &str, data: u32) -> Vec<u8> {
        let mut e = utf16("[");
        e.extend(utf16(&format!("{key}\0;{value}\0;")));
        e.extend(4u32.to_le_bytes());
        e.extend(utf16(";"));
        e.extend(4u32.to_le_bytes());
        e.extend(utf16(";"));
        e.extend(data.to_le_bytes());
        e.extend(utf16("]"));
        e
    }

    #[test]
    fn reads_settings_and_refuses_other_files() {
        let mut file = b"PReg\x01\0\0\0".to_vec();
        file.extend(dword_entry("Software\\Policies\\Microsoft\\Windows Defender", "DisableAntiSpyware", 1));
        let settings = parse(&file).unwrap();
        assert_eq!(
            settings,
            [PolicySetting {
                key: "Software\\Policies\\Microsoft\\Windows Defender".into(),
                value: "DisableAntiSpyware".into(),
                data: "1".into()
            }]
        );
        // A REG_SZ value, NUL-terminated as the Group Policy editor writes it.
        let mut text = b"PReg\x01\0\0\0".to_vec();
        text.extend(utf16("[Software\\Policies\\Contoso\0;Banner\0;"));
        text.extend(1u32.to_le_bytes());
        text.extend(utf16(";"));
        text.extend(12u32.to_le_bytes());
        text.extend(utf16(";Hello\0]"));
        assert_eq!(parse(&text).unwrap()[0].data, "Hello");
        assert_eq!(parse(b"MZ\x90\0"), Err(DecodeError::NotPreg));
        for n in 9..file.len() {
            assert_eq!(parse(&file[..n]), Err(DecodeError::Truncated), "{n}");
        }
        assert!(parse(b"PReg\x01\0\0\0").unwrap().is_empty());
    }
}
