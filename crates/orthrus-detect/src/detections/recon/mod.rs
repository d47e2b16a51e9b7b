//! Reconnaissance detections fed by the wire: DNS zone transfers and SMB session
//! enumeration against domain controllers.

pub mod session_enumeration;
pub mod zone_transfer;
