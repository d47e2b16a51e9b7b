//! Messages out of a reassembled byte stream, for any length-prefixed protocol: whole
//! messages are handed straight from the segment (no copy); a message split across
//! segments is buffered, up to a bound, until it completes.

use orthrus_proto::wire::Record;

use crate::tcp::{Direction, PerDirection};

/// What went wrong while framing, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FramingError {
    /// The framing did not parse: the stream was picked up mid-message or is not this
    /// protocol. Buffered bytes were dropped.
    OutOfStep,
    /// A message announced more than the bound: dropped.
    TooLarge,
}

impl FramingError {
    pub fn reason(self) -> &'static str {
        match self {
            FramingError::OutOfStep => "stream_out_of_step",
            FramingError::TooLarge => "message_too_large",
        }
    }
}

/// One buffer per direction of a flow.
#[derive(Default)]
pub(crate) struct Reframer {
    buf: PerDirection<Vec<u8>>,
    /// Bytes still to pass over of a message too large to buffer (framing stays in step).
    skip: PerDirection<usize>,
}

impl Reframer {
    /// Feeds in-order bytes; `on_message` gets every complete message, in order. A message
    /// longer than `max_buffer` is passed over (reported once) without losing step.
    pub fn feed(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        max_buffer: usize,
        split: impl Fn(&[u8]) -> Record<'_>,
        on_message: &mut dyn FnMut(&[u8]),
    ) -> Result<(), FramingError> {
        self.feed_noting_oversized(dir, bytes, max_buffer, split, on_message, &mut |_| {})
    }

    /// [`feed`](Self::feed), and `on_oversized` gets the first bytes (up to [`OVERSIZED_HEAD`],
    /// length prefix included) of each message passed over for its size: enough for its
    /// header (an SMB2 READ response's data length, say).
    pub fn feed_noting_oversized(
        &mut self,
        dir: Direction,
        mut bytes: &[u8],
        max_buffer: usize,
        split: impl Fn(&[u8]) -> Record<'_>,
        on_message: &mut dyn FnMut(&[u8]),
        on_oversized: &mut dyn FnMut(&[u8]),
    ) -> Result<(), FramingError> {
        let skip = self.skip.get_mut(dir);
        if *skip > 0 {
            let n = (*skip).min(bytes.len());
            *skip -= n;
            bytes = bytes.get(n..).unwrap_or_default();
        }
        let buffered = self.buf.get_mut(dir);
        if !buffered.is_empty() && buffered.len() + bytes.len() > max_buffer {
            // The buffered message outgrows the bound: pass over the rest of it.
            let needed = match split(buffered) {
                Record::Incomplete { needed } => needed,
                _ => usize::MAX,
            };
            on_oversized(head(buffered, bytes).as_slice());
            buffered.clear();
            if needed > bytes.len() {
                *self.skip.get_mut(dir) = needed.saturating_sub(bytes.len());
                return Err(FramingError::TooLarge);
            }
            bytes = bytes.get(needed..).unwrap_or_default();
            self.feed_noting_oversized(dir, bytes, max_buffer, split, on_message, on_oversized)?;
            return Err(FramingError::TooLarge);
        }
        let buffered = self.buf.get_mut(dir);
        if buffered.is_empty() {
            // Fast path: whole messages straight from the segment.
            let (rest, result) = messages(bytes, &split, on_message);
            result?;
            if rest.len() > max_buffer {
                if let Record::Incomplete { needed } = split(rest) {
                    *self.skip.get_mut(dir) = needed;
                }
                on_oversized(rest.get(..OVERSIZED_HEAD).unwrap_or(rest));
                return Err(FramingError::TooLarge);
            }
            self.buf.get_mut(dir).extend_from_slice(rest);
            return Ok(());
        }
        buffered.extend_from_slice(bytes);
        let mut pending = std::mem::take(buffered);
        let (rest, result) = messages(&pending, &split, on_message);
        let consumed = pending.len() - rest.len();
        result?;
        pending.drain(..consumed);
        *self.buf.get_mut(dir) = pending;
        Ok(())
    }

    /// Bytes were lost in this direction: whatever was buffered can never complete.
    pub fn gap(&mut self, dir: Direction) -> bool {
        *self.skip.get_mut(dir) = 0;
        let buffered = self.buf.get_mut(dir);
        let had = !buffered.is_empty();
        buffered.clear();
        had
    }
}

/// Bytes of an oversized message's start handed to `on_oversized`.
pub(crate) const OVERSIZED_HEAD: usize = 512;

/// The first [`OVERSIZED_HEAD`] bytes of a message begun in `buffered` and continued by `more`.
fn head(buffered: &[u8], more: &[u8]) -> Vec<u8> {
    let mut head: Vec<u8> = buffered.iter().take(OVERSIZED_HEAD).copied().collect();
    let wanted = OVERSIZED_HEAD.saturating_sub(head.len());
    head.extend(more.iter().take(wanted));
    head
}

fn messages<'s>(
    mut stream: &'s [u8],
    split: &impl Fn(&[u8]) -> Record<'_>,
    on_message: &mut dyn FnMut(&[u8]),
) -> (&'s [u8], Result<(), FramingError>) {
    loop {
        match split(stream) {
            Record::Complete { message, consumed } => {
                on_message(message);
                stream = stream.get(consumed..).unwrap_or_default();
            }
            Record::Incomplete { .. } => return (stream, Ok(())),
            Record::Invalid { .. } => return (&[], Err(FramingError::OutOfStep)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_byte_length(stream: &[u8]) -> Record<'_> {
        let Some(head) = stream.first_chunk::<2>() else { return Record::Incomplete { needed: 2 } };
        let len = usize::from(u16::from_be_bytes(*head));
        if len == 0xffff {
            return Record::Invalid { length: 0xffff };
        }
        match stream.get(2..2 + len) {
            Some(message) => Record::Complete { message, consumed: 2 + len },
            None => Record::Incomplete { needed: 2 + len - stream.len() },
        }
    }

    #[test]
    fn messages_split_and_joined() {
        let mut r = Reframer::default();
        let mut got = Vec::new();
        let mut on = |m: &[u8]| got.push(m.to_vec());
        let dir = Direction::ToServer;
        r.feed(dir, &[0, 1, 0xaa, 0, 3, 0xbb], 100, two_byte_length, &mut on).unwrap();
        r.feed(dir, &[0xcc], 100, two_byte_length, &mut on).unwrap();
        r.feed(dir, &[0xdd, 0, 0], 100, two_byte_length, &mut on).unwrap();
        assert_eq!(got, vec![vec![0xaa], vec![0xbb, 0xcc, 0xdd], vec![]]);
    }

    #[test]
    fn bounds_and_resync() {
        let mut r = Reframer::default();
        let mut on = |_: &[u8]| {};
        let dir = Direction::ToClient;
        // A 200-byte message with a 10-byte bound is passed over; the next one still frames.
        assert_eq!(r.feed(dir, &[0, 200, 1], 10, two_byte_length, &mut on), Ok(()));
        assert_eq!(r.feed(dir, &[0; 20], 10, two_byte_length, &mut on), Err(FramingError::TooLarge));
        assert_eq!(r.feed(dir, &[0; 179], 10, two_byte_length, &mut on), Ok(()));
        let mut got = Vec::new();
        r.feed(dir, &[0, 1, 0x42], 10, two_byte_length, &mut |m: &[u8]| got.push(m.to_vec())).unwrap();
        assert_eq!(got, vec![vec![0x42]]);
        assert_eq!(r.feed(dir, &[0xff, 0xff], 10, two_byte_length, &mut on), Err(FramingError::OutOfStep));
        assert!(!r.gap(dir));
    }

    #[test]
    fn oversized_messages_show_their_head() {
        let dir = Direction::ToClient;
        let mut heads: Vec<Vec<u8>> = Vec::new();
        let mut on = |_: &[u8]| {};
        // Split across segments: the head is what was buffered plus what came on.
        let mut r = Reframer::default();
        r.feed_noting_oversized(dir, &[0, 200, 1, 2], 10, two_byte_length, &mut on, &mut |h| {
            heads.push(h.to_vec())
        })
        .unwrap();
        let more = [3u8; 20];
        let result = r
            .feed_noting_oversized(dir, &more, 10, two_byte_length, &mut on, &mut |h| heads.push(h.to_vec()));
        assert_eq!(result, Err(FramingError::TooLarge));
        // Whole in one segment beyond the bound: its first bytes.
        let mut r = Reframer::default();
        let mut segment = vec![0u8, 30];
        segment.extend(1..=30u8);
        let result = r.feed_noting_oversized(dir, &segment[..25], 10, two_byte_length, &mut on, &mut |h| {
            heads.push(h.to_vec())
        });
        assert_eq!(result, Err(FramingError::TooLarge));
        assert_eq!(heads.len(), 2);
        assert_eq!(heads[0][..4], [0, 200, 1, 2]);
        assert_eq!(heads[0].len(), 24);
        assert_eq!(heads[1][..3], [0, 30, 1]);
        // Framing stays in step after each.
        let mut got = Vec::new();
        r.feed(dir, &segment[25..], 10, two_byte_length, &mut on).unwrap();
        r.feed(dir, &[0, 1, 0x42], 10, two_byte_length, &mut |m: &[u8]| got.push(m.to_vec())).unwrap();
        assert_eq!(got, vec![vec![0x42]]);
    }
}
