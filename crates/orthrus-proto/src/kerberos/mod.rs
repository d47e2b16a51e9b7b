//! Kerberos (RFC 4120, MS-KILE) over UDP and TCP port 88.
//!
//! The ASN.1 messages are decoded by rusticata's `kerberos-parser` (used by Suricata and
//! fuzzed there); this module adds what it lacks: TCP record marking (RFC 4120 §7.2.2), the
//! PA-DATA bodies detections need (PA-ENC-TIMESTAMP's etype, PA-PAC-REQUEST, PA-TGS-REQ's
//! AP-REQ), KDC-options as bits, and the conversions to plain values.

mod parser;

pub use crate::wire::Record;
pub use kerberos_parser::krb5::{
    ApReq, EncryptedData, KdcRep, KdcReq, KrbError, PAData, PrincipalName, Ticket,
};
pub use parser::{
    DecodeError, KrbMessage, MAX_RECORD_LEN, enc_timestamp_etype, generalized_time_micros, host_address,
    kdc_options, pac_request, parse_message, patch_signed_nonce, principal, split_record, tgs_req_ap_req,
};
