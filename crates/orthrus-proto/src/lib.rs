//! Protocol decoders: bytes in, typed messages out. No I/O, no flow state, no allocation
//! without a bound, no panic on any input.
//!
//! One module per protocol: [`kerberos`] (RFC 4120, MS-KILE), [`ntlmssp`] (MS-NLMP),
//! [`spnego`] (RFC 4178, MS-SPNG, GSS-API framing), [`smb2`] (MS-SMB2, NBSS framing),
//! [`dcerpc`] (C706, MS-RPCE), [`msrpc`] (the interfaces above DCE-RPC and the NDR stubs
//! detections read); [`wire`] holds the little-endian field readers they share.
//!
//! ```
//! use orthrus_proto::kerberos::{self, Record};
//! // A TCP record marker announcing 4 bytes, followed by only 2 of them.
//! assert_eq!(kerberos::split_record(&[0, 0, 0, 4, 0x6a, 0x82]), Record::Incomplete { needed: 2 });
//! ```

mod ber;
pub mod dcerpc;
pub mod dns;
pub mod http;
pub mod kerberos;
pub mod ldap;
pub mod msrpc;
pub mod netbios;
pub mod ntlmssp;
pub mod preg;
pub mod rdp;
pub mod smb2;
pub mod spnego;
pub mod tls;
pub mod wire;
