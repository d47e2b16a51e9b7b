//! Credential-theft detections fed by the wire: secrets pulled from a DC over RPC or LDAP,
//! or copied off it over SMB.

pub mod adfs_dkm_read;
pub mod dpapi_backup_key;
pub mod smb_exfiltration;
