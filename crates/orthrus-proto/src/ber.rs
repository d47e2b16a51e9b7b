//! A minimal, zero-copy BER/DER walker for the places where a full ASN.1 decode is not
//! wanted: locating one field (Kerberos nonce repair) and unwrapping GSS-API/SPNEGO
//! envelopes. Single-octet tags, definite lengths of up to four octets; anything else is
//! "not found", never a panic.

/// One TLV's extent in a buffer: tag octet at `start`, value from `content` to `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tlv {
    pub tag: u8,
    pub start: usize,
    pub content: usize,
    pub end: usize,
}

impl Tlv {
    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.content..self.end).unwrap_or_default()
    }
}

/// Reads the TLV at `at`.
pub(crate) fn tlv(buf: &[u8], at: usize) -> Option<Tlv> {
    let tag = *buf.get(at)?;
    let first_len = *buf.get(at + 1)?;
    let (len, header) = if first_len & 0x80 == 0 {
        (usize::from(first_len), 2)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = buf.get(at + 2..at + 2 + n)?;
        (bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    let content = at + header;
    let end = content.checked_add(len)?;
    (end <= buf.len()).then_some(Tlv { tag, start: at, content, end })
}

/// The direct children of a constructed TLV, in order; stops at the first malformed one.
pub(crate) fn children(buf: &[u8], parent: Tlv) -> impl Iterator<Item = Tlv> + '_ {
    let mut at = parent.content;
    std::iter::from_fn(move || {
        if at >= parent.end {
            return None;
        }
        let child = tlv(buf, at).filter(|c| c.end <= parent.end)?;
        at = child.end;
        Some(child)
    })
}

/// The direct child of a constructed TLV whose tag octet is `tag`.
pub(crate) fn find_child(buf: &[u8], parent: Tlv, tag: u8) -> Option<Tlv> {
    children(buf, parent).find(|c| c.tag == tag)
}
