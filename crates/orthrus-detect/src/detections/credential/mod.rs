//! Credential-theft detections fed by the wire: secrets pulled from a DC over RPC.

pub mod dpapi_backup_key;
