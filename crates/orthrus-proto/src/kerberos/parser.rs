use der_parser::asn1_rs::{FromDer, GeneralizedTime};

use crate::ber::{find_child, tlv};
use crate::wire::Record;
use der_parser::ber::{BerObjectContent, parse_ber_sequence};
use kerberos_parser::krb5::{
    AddressType, ApReq, EncryptedData, HostAddress, KdcRep, KdcReq, KrbError, PrincipalName,
};
use kerberos_parser::krb5_parser::{parse_as_rep, parse_as_req, parse_tgs_rep, parse_tgs_req};

/// Largest Kerberos message accepted over TCP. Tickets with big PACs (users in thousands of
/// groups) reach tens of KiB; MS-KILE's MaxTokenSize tops out at 64 KiB, so 1 MiB is generous
/// and still bounds what one flow may make us buffer.
pub const MAX_RECORD_LEN: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a Kerberos message (first octet {0:#04x})")]
    NotKerberos(u8),
    #[error("empty message")]
    Empty,
    #[error("invalid {what}")]
    Invalid { what: &'static str },
}

impl DecodeError {
    /// A short, bounded label for statistics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotKerberos(_) => "not_kerberos",
            DecodeError::Empty => "empty",
            DecodeError::Invalid { what } => what,
        }
    }
}

/// One Kerberos message, by its APPLICATION tag.
#[derive(Debug)]
pub enum KrbMessage<'a> {
    AsReq(KdcReq<'a>),
    AsRep(KdcRep<'a>),
    TgsReq(KdcReq<'a>),
    TgsRep(KdcRep<'a>),
    ApReq(ApReq<'a>),
    Error(KrbError<'a>),
    /// A valid APPLICATION tag this decoder does not expand (AP-REP, KRB-SAFE, KRB-PRIV,
    /// KRB-CRED).
    Other(u8),
}

/// Decodes one Kerberos message (no TCP record marker).
///
/// ```text
/// AS-REQ [APPLICATION 10] | AS-REP [11] | TGS-REQ [12] | TGS-REP [13] | AP-REQ [14]
/// AP-REP [15] | KRB-SAFE [20] | KRB-PRIV [21] | KRB-CRED [22] | KRB-ERROR [30]
/// ```
pub fn parse_message(input: &[u8]) -> Result<KrbMessage<'_>, DecodeError> {
    let first = *input.first().ok_or(DecodeError::Empty)?;
    // Constructed, application class: 0x60 | tag (tags < 31 fit the short form).
    if first & 0xe0 != 0x60 {
        return Err(DecodeError::NotKerberos(first));
    }
    let invalid = |what| move |_| DecodeError::Invalid { what };
    Ok(match first & 0x1f {
        10 => KrbMessage::AsReq(parse_as_req(input).map_err(invalid("as_req"))?.1),
        11 => KrbMessage::AsRep(parse_as_rep(input).map_err(invalid("as_rep"))?.1),
        12 => KrbMessage::TgsReq(parse_tgs_req(input).map_err(invalid("tgs_req"))?.1),
        13 => KrbMessage::TgsRep(parse_tgs_rep(input).map_err(invalid("tgs_rep"))?.1),
        14 => KrbMessage::ApReq(ApReq::from_der(input).map_err(invalid("ap_req"))?.1),
        30 => KrbMessage::Error(KrbError::from_der(input).map_err(invalid("krb_error"))?.1),
        tag @ (15 | 20 | 21 | 22) => KrbMessage::Other(tag),
        _ => return Err(DecodeError::NotKerberos(first)),
    })
}

/// MIT and Heimdal clients encode KDC-REQ-BODY's `nonce [7] UInt32` as a signed 32-bit
/// INTEGER, so half their nonces are negative on the wire; kerberos-parser refuses negative
/// INTEGERs for it. Returns a copy of the message whose nonce's first octet is replaced by
/// 0x7f (positive, and never a DER-forbidden leading zero), and the nonce's true value, or `None` when the nonce is not
/// negative or the message cannot be walked.
///
/// ```text
/// [APPLICATION 10|12] SEQUENCE { ..., req-body [4] SEQUENCE { ..., nonce [7] INTEGER, ... } }
/// ```
pub fn patch_signed_nonce(message: &[u8]) -> Option<(Vec<u8>, u32)> {
    let app = tlv(message, 0)?;
    let seq = tlv(message, app.content)?;
    let body_tag = find_child(message, seq, 0xa4)?;
    let body_seq = tlv(message, body_tag.content)?;
    let nonce_tag = find_child(message, body_seq, 0xa7)?;
    let int = tlv(message, nonce_tag.content)?;
    let content = message.get(int.content..int.end)?;
    let (&first, _) = content.split_first()?;
    if message.get(int.start) != Some(&0x02) || first & 0x80 == 0 || content.len() > 4 {
        return None;
    }
    let signed = content.iter().fold(-1i32, |acc, b| (acc << 8) | i32::from(*b));
    let mut patched = message.to_vec();
    *patched.get_mut(int.content)? = 0x7f;
    Some((patched, signed as u32))
}

pub fn split_record(stream: &[u8]) -> Record<'_> {
    let Some(marker) = stream.first_chunk::<4>() else {
        return Record::Incomplete { needed: 4 - stream.len() };
    };
    let length = u32::from_be_bytes(*marker);
    let len = length as usize;
    if length & 0x8000_0000 != 0 || len > MAX_RECORD_LEN || len == 0 {
        return Record::Invalid { length };
    }
    match stream.get(4..4 + len) {
        Some(message) => Record::Complete { message, consumed: 4 + len },
        None => Record::Incomplete { needed: 4 + len - stream.len() },
    }
}

/// `name/instance@...` without the realm: name-string components joined by `/`.
pub fn principal(name: &PrincipalName) -> String {
    name.name_string.join("/")
}

/// KDC-options as a u32, bit 0 (RFC 4120 numbering) being the most significant bit.
pub fn kdc_options(req: &KdcReq<'_>) -> u32 {
    let data = &req.req_body.kdc_options.data;
    let mut bytes = [0u8; 4];
    for (dst, src) in bytes.iter_mut().zip(data.iter()) {
        *dst = *src;
    }
    u32::from_be_bytes(bytes)
}

/// PA-ENC-TIMESTAMP's value is an EncryptedData (RFC 4120 §5.2.7.2); its etype is the key the
/// client used.
pub fn enc_timestamp_etype(padata_value: &[u8]) -> Option<i32> {
    EncryptedData::from_der(padata_value).ok().map(|(_, enc)| enc.etype.0)
}

/// KERB-PA-PAC-REQUEST ::= SEQUENCE { include-pac [0] BOOLEAN } (MS-KILE §2.2.3).
pub fn pac_request(padata_value: &[u8]) -> Option<bool> {
    let (_, seq) = parse_ber_sequence(padata_value).ok()?;
    let items = seq.as_sequence().ok()?;
    let tagged = items.first()?;
    let inner = match &tagged.content {
        BerObjectContent::Unknown(any) => any.data,
        _ => return None,
    };
    // The [0] wrapper holds a BOOLEAN TLV: 01 01 xx.
    match inner {
        [0x01, 0x01, value] => Some(*value != 0),
        _ => None,
    }
}

/// PA-TGS-REQ carries the AP-REQ that presents the TGT (RFC 4120 §5.2.7.1).
pub fn tgs_req_ap_req(padata_value: &[u8]) -> Option<ApReq<'_>> {
    ApReq::from_der(padata_value).ok().map(|(_, ap)| ap)
}

/// A GeneralizedTime as microseconds since the Unix epoch (UTC; Kerberos times are always Z).
pub fn generalized_time_micros(time: &GeneralizedTime) -> Option<i64> {
    let dt = &time.0;
    let days = days_from_civil(i64::from(dt.year), u32::from(dt.month), u32::from(dt.day))?;
    if dt.hour > 23 || dt.minute > 59 || dt.second > 60 {
        return None;
    }
    let secs = days * 86_400 + i64::from(dt.hour) * 3_600 + i64::from(dt.minute) * 60 + i64::from(dt.second);
    let millis = i64::from(dt.millisecond.unwrap_or(0));
    Some(secs * 1_000_000 + millis * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(0..=9999).contains(&year) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A HostAddress as text: dotted IPv4, IPv6, NetBIOS name, or `type:hex`.
pub fn host_address(addr: &HostAddress<'_>) -> String {
    match (addr.addr_type, addr.address) {
        (AddressType::IPV4, [a, b, c, d]) => format!("{a}.{b}.{c}.{d}"),
        (AddressType::IPV6, bytes) if bytes.len() == 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        (AddressType::NETBIOS, bytes) => String::from_utf8_lossy(bytes).trim_end().to_string(),
        (kind, bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}:{hex}", kind.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_marker_rejects_reserved_bit_and_huge_lengths() {
        assert_eq!(split_record(&[0x80, 0, 0, 1, 0]), Record::Invalid { length: 0x8000_0001 });
        assert_eq!(split_record(&[0x00, 0x20, 0, 0]), Record::Invalid { length: 0x0020_0000 });
        assert_eq!(split_record(&[0, 0]), Record::Incomplete { needed: 2 });
        assert_eq!(
            split_record(&[0, 0, 0, 2, 0xaa, 0xbb, 0xcc]),
            Record::Complete { message: &[0xaa, 0xbb], consumed: 6 }
        );
    }

    #[test]
    fn non_kerberos_bytes_are_refused_not_panicked_on() {
        assert_eq!(parse_message(&[]).unwrap_err(), DecodeError::Empty);
        assert_eq!(parse_message(&[0x30, 0]).unwrap_err(), DecodeError::NotKerberos(0x30));
        assert!(matches!(
            parse_message(&[0x6a, 0x05, 0x30, 0x03, 0x02, 0x01]),
            Err(DecodeError::Invalid { what: "as_req" })
        ));
    }

    #[test]
    fn mit_negative_nonce_is_repaired_and_restored() {
        // A real MIT TGS-REQ (FAST-armored) from the lab's benign_logon capture, frame 45.
        let raw = include_bytes!("../../../../testdata/kerberos/tgs-req-fast-forwarded.bin");
        assert!(matches!(parse_message(raw), Err(DecodeError::Invalid { what: "tgs_req" })));
        let (patched, nonce) = patch_signed_nonce(raw).expect("nonce is negative");
        assert_eq!(nonce, 2_702_614_920, "tshark shows this nonce");
        let Ok(KrbMessage::TgsReq(req)) = parse_message(&patched) else {
            panic!("patched message must parse")
        };
        assert_eq!(principal(req.req_body.sname.as_ref().unwrap()), "krbtgt/LAB.TEST");
        assert_eq!(req.req_body.etype.len(), 6);
    }

    #[test]
    fn repaired_nonce_never_gets_a_der_leading_zero() {
        // benign_admin frame 110: nonce 0x8043..., whose sign-cleared form would be 00 43 ...
        let raw = include_bytes!("../../../../testdata/kerberos/tgs-req-nonce-leading-zero.bin");
        let (patched, nonce) = patch_signed_nonce(raw).expect("nonce is negative");
        assert_eq!(nonce, 2_151_903_388);
        assert!(matches!(parse_message(&patched), Ok(KrbMessage::TgsReq(_))));
    }

    #[test]
    fn civil_dates_convert_to_unix_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2037, 9, 13), Some(24_727));
        assert_eq!(days_from_civil(2020, 13, 1), None);
    }
}

#[cfg(test)]
mod real_messages {
    //! Messages cut from the lab's kerberoast capture (testdata/kerberos/kerberoast-frame-N.bin
    //! is frame N's Kerberos record, marker removed); expected values as tshark shows them.

    use super::*;

    fn frame(n: u32) -> Vec<u8> {
        let path = format!("{}/../../testdata/kerberos/kerberoast-frame-{n}.bin", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn as_req_without_preauth_asks_for_rc4_and_a_pac() {
        let bytes = frame(15);
        let Ok(KrbMessage::AsReq(req)) = parse_message(&bytes) else { panic!("AS-REQ") };
        assert_eq!(principal(req.req_body.cname.as_ref().unwrap()), "bob");
        assert_eq!(req.req_body.realm.0, "LAB.TEST");
        assert_eq!(req.req_body.etype.iter().map(|e| e.0).collect::<Vec<_>>(), [23]);
        assert_eq!(req.padata.len(), 1);
        assert_eq!(pac_request(req.padata[0].padata_value), Some(true));
        assert_eq!(kdc_options(&req), 0x5080_0000, "forwardable, proxiable, renewable");
    }

    #[test]
    fn krb_error_says_preauth_required() {
        let bytes = frame(17);
        let Ok(KrbMessage::Error(err)) = parse_message(&bytes) else { panic!("KRB-ERROR") };
        assert_eq!(err.error_code.0, 25);
        assert_eq!(principal(&err.sname), "krbtgt/LAB.TEST");
    }

    #[test]
    fn as_rep_carries_an_aes_tgt_and_an_rc4_enc_part() {
        let bytes = frame(28);
        let Ok(KrbMessage::AsRep(rep)) = parse_message(&bytes) else { panic!("AS-REP") };
        assert_eq!(principal(&rep.cname), "bob");
        assert_eq!(rep.ticket.enc_part.etype.0, 18);
        assert_eq!(rep.enc_part.etype.0, 23);
    }

    #[test]
    fn tgs_req_presents_the_tgt_and_offers_no_aes() {
        let bytes = frame(36);
        let Ok(KrbMessage::TgsReq(req)) = parse_message(&bytes) else { panic!("TGS-REQ") };
        assert_eq!(principal(req.req_body.sname.as_ref().unwrap()), "MSSQLSvc/sql01.lab.test");
        assert_eq!(req.req_body.etype.iter().map(|e| e.0).collect::<Vec<_>>(), [23, 16, 3, 23]);
        let ap = tgs_req_ap_req(req.padata[0].padata_value).expect("PA-TGS-REQ holds an AP-REQ");
        assert_eq!(principal(&ap.ticket.sname), "krbtgt/LAB.TEST");
        assert_eq!(ap.ticket.enc_part.etype.0, 18);
        assert_eq!(ap.authenticator.etype.0, 23);
    }

    #[test]
    fn tgs_rep_returns_an_rc4_service_ticket() {
        let bytes = frame(38);
        let Ok(KrbMessage::TgsRep(rep)) = parse_message(&bytes) else { panic!("TGS-REP") };
        assert_eq!(principal(&rep.ticket.sname), "MSSQLSvc/sql01.lab.test");
        assert_eq!(rep.ticket.enc_part.etype.0, 23);
        assert_eq!(rep.ticket.enc_part.kvno, Some(2));
    }

    #[test]
    fn every_truncation_of_a_real_message_is_an_error_not_a_panic() {
        for n in [15, 17, 28, 36, 38] {
            let bytes = frame(n);
            for len in 0..bytes.len() {
                assert!(parse_message(&bytes[..len]).is_err(), "frame {n} cut at {len}");
            }
        }
    }
}
