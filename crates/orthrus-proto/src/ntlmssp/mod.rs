//! NTLMSSP (MS-NLMP 2.2): NEGOTIATE, CHALLENGE and AUTHENTICATE messages, wherever they are
//! carried (SMB2 session setup, LDAP SASL, DCE-RPC auth, HTTP). Hand-written: no maintained
//! crate decodes NTLMSSP passively (the existing ones are clients).
//!
//! Borrowed and zero-copy: strings stay raw bytes until asked for, AV pairs are iterated on
//! demand with a bound on their number.
//!
//! ```
//! use orthrus_proto::ntlmssp::{self, NtlmMessage};
//! let negotiate = b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
//! let Ok(NtlmMessage::Negotiate(n)) = ntlmssp::parse(negotiate) else { panic!() };
//! assert!(n.flags.unicode());
//! ```

mod parser;

pub use parser::{
    Authenticate, AvId, AvPair, AvPairs, Challenge, DecodeError, Negotiate, NegotiateFlags, NtlmMessage,
    NtlmString, NtlmVersion, SIGNATURE, Version, find, parse,
};
