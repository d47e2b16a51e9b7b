//! Which accounts are honeytokens: decoys nobody should use or look up.

use std::collections::BTreeSet;
use std::sync::Arc;

use orthrus_directory::{Directory, EntityTags, bare_account_name};

use crate::names::account_key;

/// The honeytokens as every honeytoken detection recognises them: by any name the directory
/// knows the account by (UPN, `DOMAIN\name`, SID, DN, SPN, RID), or, without a directory,
/// by the bare sAMAccountName the config gives.
pub struct Honeytokens {
    names: BTreeSet<String>,
    directory: Arc<Directory>,
}

impl Honeytokens {
    /// The honeytokens tagged (`[entities] honeytokens`, `[honeytoken] accounts`), as the
    /// directory knows them.
    pub fn new(tags: &EntityTags, directory: Arc<Directory>) -> Self {
        Self { names: tags.honeytokens.iter().map(|a| bare_account_name(a)).collect(), directory }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The honeytoken `name` stands for (its sAMAccountName, lower-case), if it is one.
    pub fn named(&self, name: &str) -> Option<String> {
        match self.directory.find(name) {
            Some(found) => {
                let key = account_key(found.object.name());
                (self.directory.is_honeytoken(&found) || self.names.contains(&key)).then_some(key)
            }
            None => {
                let key = bare_account_name(name);
                self.names.contains(&key).then_some(key)
            }
        }
    }

    /// The honeytoken an event's account reference stands for (by its name, else its SID).
    pub fn of_account(&self, account: &orthrus_model::AccountRef) -> Option<String> {
        [Some(account.name.as_str()), account.sid.as_deref()]
            .into_iter()
            .flatten()
            .filter(|name| !name.is_empty())
            .find_map(|name| self.named(name))
    }

    /// The honeytoken owning the SPN `service`, if one does.
    pub fn owning(&self, service: &str) -> Option<String> {
        let owner = self.directory.find_spn(service)?;
        self.named(owner.object.name())
    }

    /// The honeytoken with this relative id. RIDs repeat across domains; the directory's
    /// domains are searched and a RID two honeytokens share matches neither.
    pub fn with_rid(&self, rid: u32) -> Option<String> {
        let mut found = self.directory.snapshot().domains.iter().flat_map(|d| &d.objects).filter(|o| {
            o.sid.as_deref().and_then(orthrus_directory::ad::rid) == Some(rid)
                && self.named(o.sid.as_deref().unwrap_or_default()).is_some()
        });
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some(account_key(first.name()))
    }
}
