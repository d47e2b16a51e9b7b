//! Detections fed by NTLM authentications (NTLMSSP on the wire; events 4776/8004) and by
//! logon events (4625 refused logons, 4648 explicit credentials).

pub mod account_enumeration;
pub mod brute_force;
pub mod relay;
pub mod tampering;
pub mod unusual_implementation;
