//! Little-endian field access for the Microsoft binary protocols (SMB2, DCE-RPC, NDR,
//! NTLMSSP): every read is bounds-checked and answers `None` past the end, never a panic.
//! Hand-written: the fields are fixed offsets, and a parser-combinator crate would add more
//! than it saves here.

/// Characters kept of any UTF-16 string read off the wire.
pub const MAX_STRING_CHARS: usize = 1024;

/// What the front of a TCP byte stream holds, for any length-prefixed framing (Kerberos
/// record marking, NBSS, DCE-RPC fragments, LDAP's BER envelope, DNS over TCP).
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A whole message and the total bytes (framing included) it used.
    Complete { message: &'a [u8], consumed: usize },
    /// More bytes are needed.
    Incomplete { needed: usize },
    /// The framing is not plausible for the protocol (reserved bits, a length beyond its
    /// limit): the stream is out of step.
    Invalid { length: u32 },
}

pub fn u8_at(buf: &[u8], at: usize) -> Option<u8> {
    buf.get(at).copied()
}

pub fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*buf.get(at..)?.first_chunk::<2>()?))
}

pub fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*buf.get(at..)?.first_chunk::<4>()?))
}

pub fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*buf.get(at..)?.first_chunk::<8>()?))
}

pub fn array_at<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..)?.first_chunk::<N>().copied()
}

/// `len` bytes at `at`.
pub fn slice_at(buf: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    buf.get(at..at.checked_add(len)?)
}

/// A binary SID (MS-DTYP 2.4.2.2) as `S-1-5-21-…`; None when malformed (a revision other
/// than 1, or sub-authorities short of or beyond its count). The directory sync reads objectSid
/// with it, the EVTX reader SID substitution values.
pub fn sid_to_string(bytes: &[u8]) -> Option<String> {
    let (&revision, rest) = bytes.split_first()?;
    let (&count, rest) = rest.split_first()?;
    let authority = rest.get(..6)?;
    let subs = rest.get(6..)?;
    if revision != 1 || subs.len() != usize::from(count) * 4 {
        return None;
    }
    let authority = authority.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    // Numbers written through itoa, not `format!`: event logs hold a SID or two per record,
    // and formatting each part was a visible share of reading them.
    let mut digits = itoa::Buffer::new();
    let mut text = String::with_capacity(4 + 20 + subs.len() / 4 * 11);
    text.push_str("S-1-");
    text.push_str(digits.format(authority));
    for (sub, _) in subs.as_chunks::<4>().0.iter().zip(0..count) {
        text.push('-');
        text.push_str(digits.format(u32::from_le_bytes(*sub)));
    }
    Some(text)
}

/// UTF-16LE text, lossily decoded, cut at the first NUL and at [`MAX_STRING_CHARS`].
pub fn utf16le(bytes: &[u8]) -> String {
    let units = bytes.as_chunks::<2>().0.iter().map(|c| u16::from_le_bytes(*c)).take_while(|u| *u != 0);
    char::decode_utf16(units).take(MAX_STRING_CHARS).map(|c| c.unwrap_or('\u{fffd}')).collect()
}

/// A GUID as its conventional text (the first three fields are little-endian on the wire).
pub fn guid_text(g: &[u8; 16]) -> String {
    let [a0, a1, a2, a3, b0, b1, c0, c1, rest @ ..] = *g;
    let mut s = format!(
        "{:08x}-{:04x}-{:04x}-",
        u32::from_le_bytes([a0, a1, a2, a3]),
        u16::from_le_bytes([b0, b1]),
        u16::from_le_bytes([c0, c1])
    );
    for (i, b) in rest.iter().enumerate() {
        if i == 2 {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A sequential little-endian reader with NDR-style alignment.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Aligns the position to a multiple of `n` (relative to the start of the buffer).
    pub fn align(&mut self, n: usize) -> Option<()> {
        let aligned = self.pos.checked_next_multiple_of(n)?;
        (aligned <= self.buf.len()).then(|| self.pos = aligned)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = slice_at(self.buf, self.pos, n)?;
        self.pos += n;
        Some(s)
    }

    pub fn u8(&mut self) -> Option<u8> {
        let v = u8_at(self.buf, self.pos)?;
        self.pos += 1;
        Some(v)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let v = u16_at(self.buf, self.pos)?;
        self.pos += 2;
        Some(v)
    }

    pub fn u32(&mut self) -> Option<u32> {
        let v = u32_at(self.buf, self.pos)?;
        self.pos += 4;
        Some(v)
    }

    pub fn u64(&mut self) -> Option<u64> {
        let v = u64_at(self.buf, self.pos)?;
        self.pos += 8;
        Some(v)
    }

    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let v = array_at::<N>(self.buf, self.pos)?;
        self.pos += N;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none() {
        let buf = [1, 0, 0, 0];
        assert_eq!(u32_at(&buf, 0), Some(1));
        assert_eq!(u32_at(&buf, 1), None);
        assert_eq!(slice_at(&buf, 3, usize::MAX), None);
        let mut c = Cursor::new(&buf);
        assert_eq!(c.u16(), Some(1));
        assert_eq!(c.align(4), Some(()));
        assert_eq!(c.u8(), None);
    }

    #[test]
    fn sids_read_as_their_usual_text() {
        // S-1-5-21-3623811015-3361044348-30300820-1013: revision 1, five sub-authorities.
        let mut sid = vec![1, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 3_623_811_015, 3_361_044_348, 30_300_820, 1013] {
            sid.extend(sub.to_le_bytes());
        }
        assert_eq!(sid_to_string(&sid).as_deref(), Some("S-1-5-21-3623811015-3361044348-30300820-1013"));
        // Extremes: no sub-authority, the largest authority and sub-authority, a zero.
        assert_eq!(sid_to_string(&[1, 0, 0, 0, 0, 0, 0, 0]).as_deref(), Some("S-1-0"));
        let mut largest = vec![1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        largest.extend(u32::MAX.to_le_bytes());
        largest.extend(0u32.to_le_bytes());
        assert_eq!(sid_to_string(&largest).as_deref(), Some("S-1-281474976710655-4294967295-0"));
        // A count the bytes do not hold, or another revision.
        assert_eq!(sid_to_string(&[1, 2, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]), None);
        assert_eq!(sid_to_string(&[2, 0, 0, 0, 0, 0, 0, 5]), None);
    }

    #[test]
    fn guid_text_matches_the_usual_form() {
        // DRSUAPI's interface UUID as it is laid out on the wire.
        let wire =
            [0x35, 0x42, 0x51, 0xe3, 0x06, 0x4b, 0xd1, 0x11, 0xab, 0x04, 0x00, 0xc0, 0x4f, 0xc2, 0xdc, 0xd2];
        assert_eq!(guid_text(&wire), "e3514235-4b06-11d1-ab04-00c04fc2dcd2");
    }

    #[test]
    fn utf16_stops_at_nul() {
        assert_eq!(utf16le(b"I\0P\0C\0$\0\0\0x\0"), "IPC$");
    }
}
