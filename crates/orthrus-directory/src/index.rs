//! The directory as detections and alerts ask it: lookups by every name an account goes by,
//! and which accounts are sensitive, and why.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::ad;
use crate::snapshot::{DirectoryObject, Domain, ObjectKind, Snapshot};

/// Built-in sensitive groups (mdi-model.md section 4), by well-known SID or domain RID, never by
/// (localisable) name.
const SENSITIVE_BUILTIN_SIDS: &[(&str, &str)] = &[
    ("S-1-5-32-544", "Administrators"),
    ("S-1-5-32-547", "Power Users"),
    ("S-1-5-32-548", "Account Operators"),
    ("S-1-5-32-549", "Server Operators"),
    ("S-1-5-32-550", "Print Operators"),
    ("S-1-5-32-551", "Backup Operators"),
    ("S-1-5-32-552", "Replicator"),
    ("S-1-5-32-556", "Network Configuration Operators"),
    ("S-1-5-32-557", "Incoming Forest Trust Builders"),
];
const SENSITIVE_DOMAIN_RIDS: &[(u32, &str)] = &[
    (512, "Domain Admins"),
    (516, "Domain Controllers"),
    (518, "Schema Admins"),
    (519, "Enterprise Admins"),
    (520, "Group Policy Creator Owners"),
    (521, "Read-only Domain Controllers"),
    (498, "Enterprise Read-only Domain Controllers"),
];
/// The name of a group sensitive by its well-known SID (`S-1-5-32-544`: Administrators) or
/// domain RID (`S-1-5-21-…-512`: Domain Admins), in any domain: what an event naming a group
/// by SID alone shows without a directory.
pub fn well_known_sensitive_group(sid: &str) -> Option<&'static str> {
    if let Some((_, name)) = SENSITIVE_BUILTIN_SIDS.iter().find(|(known, _)| *known == sid) {
        return Some(name);
    }
    if !sid.starts_with("S-1-5-21-") {
        return None;
    }
    let rid = ad::rid(sid)?;
    SENSITIVE_DOMAIN_RIDS.iter().find(|(known, _)| *known == rid).map(|(_, name)| *name)
}

/// Exchange's group has no well-known RID; its name is fixed by Exchange setup.
const SENSITIVE_GROUP_NAMES: &[&str] = &["Exchange Servers", "Microsoft Exchange Servers"];

/// Manual tags (config `[entities]`): names in any form [`Directory::find`] understands.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntityTags {
    pub sensitive: Vec<String>,
    pub honeytokens: Vec<String>,
}

/// Why an object is sensitive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sensitivity {
    /// `member of Domain Admins through Tier0 Operators`, `tagged sensitive in the config`.
    pub reason: String,
}

/// Index position of an object: (domain, object).
type Slot = (usize, usize);

#[derive(Default)]
pub struct Directory {
    snapshot: Snapshot,
    by_sid: HashMap<String, Slot>,
    by_dn: HashMap<String, Slot>,
    by_upn: HashMap<String, Slot>,
    by_spn: HashMap<String, Slot>,
    /// SPNs registered with a port (`MSSQLSvc/host:1433`) by their form without it
    /// (`mssqlsvc/host`): every owner, as a client may name the service either way.
    by_spn_without_port: HashMap<String, Vec<Slot>>,
    /// (domain netbios or dns name, sAMAccountName), lower-case.
    by_domain_sam: HashMap<(String, String), Slot>,
    /// Bare sAMAccountName → every slot with it (unique across domains or ambiguous).
    by_sam: HashMap<String, Vec<Slot>>,
    /// Computer by NetBIOS name (sAM without `$`) or DNS host name, lower-case.
    computers: HashMap<String, Vec<Slot>>,
    sensitive: HashMap<Slot, Sensitivity>,
    honeytokens: HashSet<Slot>,
    /// Honeytoken names that the directory does not know (still matched by name).
    honeytoken_names: HashSet<String>,
    /// Users, computers, groups and service accounts, all domains (a domain's size).
    accounts: usize,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("domains", &self.snapshot.domains.len())
            .field("sensitive", &self.sensitive.len())
            .field("honeytokens", &(self.honeytokens.len() + self.honeytoken_names.len()))
            .finish()
    }
}

/// One object as lookups return it.
#[derive(Clone, Copy)]
pub struct Found<'a> {
    pub domain: &'a Domain,
    pub object: &'a DirectoryObject,
    slot: Slot,
}

impl Found<'_> {
    /// `LAB\bob`
    pub fn qualified_name(&self) -> String {
        let domain = self.domain.netbios_name.as_deref().unwrap_or(&self.domain.dns_name);
        format!("{domain}\\{}", self.object.name())
    }
}

/// `mssqlsvc/host:1433` (and `…:1433/instance`) → `mssqlsvc/host`; `None` without a port.
fn without_port(spn: &str) -> Option<String> {
    let (service, rest) = spn.split_once('/')?;
    let (host, port) = rest.split_once(':')?;
    let port = port.split('/').next().unwrap_or(port);
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{service}/{host}"))
}

fn lower(text: &str) -> String {
    text.trim().to_lowercase()
}

impl Directory {
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn new(snapshot: Snapshot, tags: &EntityTags) -> Self {
        let mut index = Directory { snapshot, ..Directory::default() };
        for (d, domain) in index.snapshot.domains.iter().enumerate() {
            let domain_names: Vec<String> = [domain.netbios_name.as_deref(), Some(domain.dns_name.as_str())]
                .into_iter()
                .flatten()
                .map(lower)
                .collect();
            for (o, object) in domain.objects.iter().enumerate() {
                let slot = (d, o);
                if matches!(
                    object.kind,
                    Some(
                        ObjectKind::User
                            | ObjectKind::Computer
                            | ObjectKind::Group
                            | ObjectKind::ServiceAccount
                    )
                ) {
                    index.accounts += 1;
                }
                if let Some(sid) = &object.sid {
                    index.by_sid.insert(sid.to_ascii_uppercase(), slot);
                }
                index.by_dn.insert(lower(&object.dn), slot);
                if let Some(upn) = &object.user_principal_name {
                    index.by_upn.insert(lower(upn), slot);
                }
                for spn in &object.service_principal_names {
                    let spn = lower(spn);
                    if let Some(portless) = without_port(&spn) {
                        index.by_spn_without_port.entry(portless).or_default().push(slot);
                    }
                    index.by_spn.insert(spn, slot);
                }
                if let Some(sam) = &object.sam_account_name {
                    let sam = lower(sam);
                    for domain_name in &domain_names {
                        index.by_domain_sam.insert((domain_name.clone(), sam.clone()), slot);
                    }
                    index.by_sam.entry(sam.clone()).or_default().push(slot);
                    if object.kind == Some(ObjectKind::Computer) {
                        index.computers.entry(sam.trim_end_matches('$').to_owned()).or_default().push(slot);
                    }
                }
                if let Some(host) = &object.dns_host_name {
                    index.computers.entry(lower(host)).or_default().push(slot);
                }
            }
        }
        index.compute_sensitivity(tags);
        for name in &tags.honeytokens {
            match index.find(name) {
                Some(found) => {
                    index.honeytokens.insert(found.slot);
                }
                None => {
                    index.honeytoken_names.insert(crate::bare_account_name(name));
                }
            }
        }
        index
    }

    fn found(&self, slot: Slot) -> Option<Found<'_>> {
        let domain = self.snapshot.domains.get(slot.0)?;
        Some(Found { domain, object: domain.objects.get(slot.1)?, slot })
    }

    /// An account (or group, or computer) by SID, DN, `DOMAIN\sam`, UPN, `sam@REALM`, SPN or
    /// a bare sAMAccountName (when only one domain has it).
    pub fn find(&self, name: &str) -> Option<Found<'_>> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        if name.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("s-1-")) {
            return self.by_sid.get(&name.to_ascii_uppercase()).and_then(|s| self.found(*s));
        }
        let key = lower(name);
        if let Some(slot) = self.by_dn.get(&key).or_else(|| self.by_upn.get(&key)) {
            return self.found(*slot);
        }
        if let Some((domain, sam)) = key.split_once('\\') {
            return self.by_domain_sam.get(&(domain.to_owned(), sam.to_owned())).and_then(|s| self.found(*s));
        }
        // An SPN, with or without its realm (`MSSQLSvc/host:1433@REALM`): before `name@REALM`,
        // which an SPN's `@` would otherwise be taken for.
        if key.split('@').next().is_some_and(|k| k.contains('/')) {
            return self.find_spn(&key);
        }
        if let Some((sam, realm)) = key.split_once('@') {
            return self.by_domain_sam.get(&(realm.to_owned(), sam.to_owned())).and_then(|s| self.found(*s));
        }
        match self.by_sam.get(&key).map(Vec::as_slice) {
            Some([only]) => self.found(*only),
            _ => None,
        }
    }

    /// The account owning an SPN (its realm, `@REALM`, ignored); `service/host` also matches
    /// the one owner of `service/host:port`, then the computer named `host` (whose `HOST/` SPN
    /// stands for most services).
    pub fn find_spn(&self, spn: &str) -> Option<Found<'_>> {
        let key = lower(spn);
        let key = key.split('@').next().unwrap_or(&key);
        if let Some(slot) = self.by_spn.get(key) {
            return self.found(*slot);
        }
        if let Some(owners) = self.by_spn_without_port.get(without_port(key).as_deref().unwrap_or(key)) {
            let mut unique = owners.clone();
            unique.sort_unstable();
            unique.dedup();
            // Two accounts registered the service on two ports: the name alone says neither.
            return match unique.as_slice() {
                [only] => self.found(*only),
                _ => None,
            };
        }
        let (_, host) = key.split_once('/')?;
        let host = host.split([':', '/']).next().unwrap_or(host);
        self.find_computer(host)
    }

    /// A computer by NetBIOS name, DNS host name or its first label (unique only).
    pub fn find_computer(&self, name: &str) -> Option<Found<'_>> {
        let key = lower(name).trim_end_matches('$').to_owned();
        let candidates =
            self.computers.get(&key).or_else(|| self.computers.get(key.split('.').next().unwrap_or(&key)))?;
        let mut unique: Vec<Slot> = candidates.clone();
        unique.sort_unstable();
        unique.dedup();
        match unique.as_slice() {
            [only] => self.found(*only),
            _ => None,
        }
    }

    pub fn sensitivity(&self, found: &Found<'_>) -> Option<&Sensitivity> {
        self.sensitive.get(&found.slot)
    }

    /// Whether the account `name` (any form [`Directory::find`] takes) is one the directory
    /// makes sensitive; `false` for a name it does not know.
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.find(name).is_some_and(|found| self.sensitivity(&found).is_some())
    }

    /// The users, computers, groups and service accounts of every domain: the directory's
    /// size, as share-of-the-domain rules count it.
    pub fn accounts(&self) -> usize {
        self.accounts
    }

    pub fn is_honeytoken(&self, found: &Found<'_>) -> bool {
        self.honeytokens.contains(&found.slot)
    }

    /// A honeytoken named in the config but absent from the directory (or no directory).
    pub fn is_honeytoken_name(&self, name: &str) -> bool {
        self.honeytoken_names.contains(&crate::bare_account_name(name))
    }

    /// The groups `found` is a direct member of (their `member` lists, and its primary group),
    /// by name, sorted. A scan of its domain: for a profile page, not a hot path.
    pub fn direct_groups(&self, found: &Found<'_>) -> Vec<String> {
        let dn = lower(&found.object.dn);
        let primary = found.object.primary_group_id;
        let domain_sid = found.domain.sid.as_deref();
        let mut names: Vec<String> = found
            .domain
            .objects
            .iter()
            .filter(|o| o.kind == Some(ObjectKind::Group))
            .filter(|group| {
                group.members.iter().any(|m| lower(m) == dn)
                    || (primary.is_some()
                        && group.sid.as_deref().and_then(ad::rid) == primary
                        && group.sid.as_deref().and_then(ad::domain_part) == domain_sid)
            })
            .map(|group| group.name().to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every member of `group`, transitively (nested groups and primary group), each once.
    pub fn transitive_members(&self, group: &Found<'_>) -> Vec<Found<'_>> {
        self.walk_members(group.slot).into_iter().filter_map(|(slot, _)| self.found(slot)).collect()
    }

    /// Breadth-first over `member` and primary-group links; a visited set makes nesting loops
    /// and diamonds harmless, and the walk can never visit more objects than exist.
    fn walk_members(&self, group: Slot) -> Vec<(Slot, Vec<Slot>)> {
        let mut seen = HashSet::from([group]);
        let mut queue = VecDeque::from([(group, Vec::new())]);
        let mut out = Vec::new();
        while let Some((slot, path)) = queue.pop_front() {
            let Some(found) = self.found(slot) else { continue };
            let mut path_here = path.clone();
            path_here.push(slot);
            let mut next: Vec<Slot> =
                found.object.members.iter().filter_map(|dn| self.by_dn.get(&lower(dn)).copied()).collect();
            next.extend(self.primary_group_members(&found));
            for member in next {
                if seen.insert(member) {
                    out.push((member, path_here.clone()));
                    queue.push_back((member, path_here.clone()));
                }
            }
        }
        out
    }

    /// Accounts whose primaryGroupID is this group's RID in the same domain (AD lists them in
    /// no `member` attribute).
    fn primary_group_members(&self, group: &Found<'_>) -> Vec<Slot> {
        let Some(rid) = group.object.sid.as_deref().and_then(ad::rid) else { return Vec::new() };
        if group.object.kind != Some(ObjectKind::Group)
            || group.object.sid.as_deref().and_then(ad::domain_part) != group.domain.sid.as_deref()
        {
            return Vec::new();
        }
        group
            .domain
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.primary_group_id == Some(rid))
            .map(|(i, _)| (group.slot.0, i))
            .collect()
    }

    fn builtin_sensitive_reason(&self, found: &Found<'_>) -> Option<String> {
        let sid = found.object.sid.as_deref()?;
        if let Some((_, name)) = SENSITIVE_BUILTIN_SIDS.iter().find(|(s, _)| *s == sid) {
            return Some((*name).to_owned());
        }
        let in_domain = ad::domain_part(sid) == found.domain.sid.as_deref();
        let rid = ad::rid(sid)?;
        if in_domain && let Some((_, name)) = SENSITIVE_DOMAIN_RIDS.iter().find(|(r, _)| *r == rid) {
            return Some((*name).to_owned());
        }
        let name = found.object.name();
        (found.object.kind == Some(ObjectKind::Group)
            && SENSITIVE_GROUP_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .then(|| name.to_owned())
    }

    /// Where a sensitive root ranks when an account is sensitive several ways: the most
    /// telling reason (Domain Admins before Print Operators) is the one shown.
    fn root_rank(&self, found: &Found<'_>) -> usize {
        const ORDER: &[u32] =
            &[512, 519, 518, 544, 516, 521, 498, 520, 548, 549, 551, 550, 552, 547, 556, 557];
        found
            .object
            .sid
            .as_deref()
            .and_then(ad::rid)
            .and_then(|rid| ORDER.iter().position(|r| *r == rid))
            .unwrap_or(ORDER.len())
    }

    fn compute_sensitivity(&mut self, tags: &EntityTags) {
        // (root, rank, its own reason, the phrase its members inherit)
        let mut roots: Vec<(Slot, usize, String, String)> = Vec::new();
        for (d, domain) in self.snapshot.domains.iter().enumerate() {
            for o in 0..domain.objects.len() {
                if let Some(found) = self.found((d, o))
                    && found.object.kind == Some(ObjectKind::Group)
                    && let Some(name) = self.builtin_sensitive_reason(&found)
                {
                    roots.push((
                        (d, o),
                        self.root_rank(&found),
                        format!("the built-in sensitive group {name}"),
                        format!("member of {name}"),
                    ));
                }
            }
        }
        for name in &tags.sensitive {
            if let Some(found) = self.find(name) {
                let member = format!("member of {} (tagged sensitive)", found.object.name());
                roots.push((found.slot, usize::MAX, "tagged sensitive in the config".to_owned(), member));
            }
        }
        // Per object: the shortest path from any root, then the best-ranked root.
        let mut best: HashMap<Slot, (usize, usize, String)> = HashMap::new();
        let mut offer = |slot: Slot, hops: usize, rank: usize, reason: String| {
            let better = best.get(&slot).is_none_or(|(h, r, _)| (hops, rank) < (*h, *r));
            if better {
                best.insert(slot, (hops, rank, reason));
            }
        };
        for (root, rank, own, inherited) in &roots {
            offer(*root, 0, *rank, own.clone());
            for (member, path) in self.walk_members(*root) {
                let via: Vec<String> = path
                    .iter()
                    .skip(1)
                    .filter_map(|s| self.found(*s).map(|f| f.object.name().to_owned()))
                    .collect();
                let reason = if via.is_empty() {
                    inherited.clone()
                } else {
                    format!("{inherited} through {}", via.join(" → "))
                };
                offer(member, path.len(), *rank, reason);
            }
        }
        self.sensitive =
            best.into_iter().map(|(slot, (_, _, reason))| (slot, Sensitivity { reason })).collect();
    }

    /// Where a Group Policy object (`{GUID}`) is linked: the DNs of the domain roots and OUs
    /// whose `gPLink` names it (enabled links only).
    pub fn gpo_links(&self, gpo_guid: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for domain in &self.snapshot.domains {
            if domain.gp_links.iter().any(|g| g.eq_ignore_ascii_case(gpo_guid)) {
                out.push(domain.dn.as_str());
            }
            let ous =
                domain.objects.iter().filter(|o| o.gp_links.iter().any(|g| g.eq_ignore_ascii_case(gpo_guid)));
            out.extend(ous.map(|o| o.dn.as_str()));
        }
        out
    }

    /// Domain controllers' DNS host names and NetBIOS names.
    pub fn domain_controllers(&self) -> Vec<Found<'_>> {
        let mut out = Vec::new();
        for (d, domain) in self.snapshot.domains.iter().enumerate() {
            for (o, object) in domain.objects.iter().enumerate() {
                if object.is_domain_controller() {
                    out.extend(self.found((d, o)));
                }
            }
        }
        out
    }
}
