//! Detections fed by Windows events on domain controllers (directory access and changes,
//! group changes, services, tasks, log clearing): activities only event logs produce.

pub mod adminsdholder;
pub mod azureadssoacc;
pub mod commands;
pub mod dcshadow;
pub mod dcshadow_replication;
pub mod dcsync;
pub mod delegation_granted;
pub mod dfs_coerce;
pub mod disguised_account;
pub mod dnshostname_spoofing;
pub mod dsrm;
pub mod esx_admins_group;
pub mod gpo_tampering;
pub mod honeytoken_attributes;
pub mod honeytoken_group;
pub mod log_cleared;
pub mod massive_deletion;
pub mod netsync;
pub mod permissions_granted;
pub mod petitpotam;
pub mod print_spooler;
pub mod rbcd;
pub mod remote_execution;
pub mod samaccountname_spoofing;
pub mod sensitive_groups;
pub mod service_creation;
pub mod shadow_credentials;
pub mod sid_history;
pub mod spn_added;
pub mod trust_changed;
pub mod zerologon;
