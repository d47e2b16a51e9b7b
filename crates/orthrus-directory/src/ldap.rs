//! `orthrus directory sync`: reads a domain over LDAP into a [`Domain`] snapshot.
//!
//! ldap3 does the protocol (bind, StartTLS/LDAPS over rustls, paged search); turning a search
//! entry into attributes is ours, because ldap3's `SearchEntry::construct` panics on a
//! malformed entry and a hostile or broken server must not crash the sync. Every value, every
//! multi-valued attribute and the object count are bounded; what is cut is recorded in the
//! snapshot's `truncations`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{PL, StructureTag};
use ldap3::controls::RawControl;
use ldap3::{LdapConn, LdapConnSettings, Scope, SearchOptions};
use tracing::{debug, info};

use crate::DirectoryError;
use crate::ad;
use crate::snapshot::{ChangeSummary, DirectoryObject, Domain, ObjectKind, Site, Subnet, Trust};
use orthrus_model::Timestamp;

/// How to authenticate to the directory.
#[derive(Clone, Debug)]
pub enum Bind {
    Anonymous,
    /// A simple bind: use it over LDAPS or StartTLS (the password crosses the wire as is).
    Simple {
        dn: String,
        password: String,
    },
    /// A Kerberos (SASL GSSAPI) bind with the caller's ticket cache (`kinit`, `KRB5CCNAME`),
    /// for the service `ldap/<server name>`; without a name, the DC's own `dnsHostName` from
    /// its root DSE. Needs the `kerberos` build feature.
    Kerberos {
        server_name: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub enum Transport {
    Plain,
    StartTls,
    /// Implied by an `ldaps://` URL.
    Ldaps,
}

/// Bounds that keep a huge or hostile directory from exhausting memory or time.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_objects: usize,
    /// Values kept per attribute (a group's members included).
    pub max_values: usize,
    pub max_value_bytes: usize,
    /// Per LDAP operation (each page counts as one).
    pub operation_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_objects: 2_000_000,
            max_values: 100_000,
            max_value_bytes: 64 * 1024,
            operation_timeout: Duration::from_secs(60),
        }
    }
}

/// How often a domain is read whole by default: a week. Incremental syncs miss what a DC changes
/// without bumping an object's uSNChanged (group links of a deleted or renamed member are
/// followed locally, but other derived values may drift); a weekly full read bounds how long
/// such drift lasts, at the cost of one full read a week.
pub const DEFAULT_FULL_EVERY: Duration = Duration::from_secs(7 * 86_400);

#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// `ldap://dc1.example.com`, `ldaps://dc1.example.com:636`
    pub url: String,
    pub transport: Transport,
    pub bind: Bind,
    /// PEM file of the CA that signed the DC's certificate (else the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Accept exactly the certificate with this SHA-256 fingerprint (hex, colons allowed),
    /// whatever its names and issuer: for DCs whose certificate a CA file cannot validate
    /// (Samba's self-signed one has no subjectAltName).
    pub pin_sha256: Option<String>,
    /// Accept any certificate: for labs only.
    pub insecure_skip_verify: bool,
    /// The domain to read; default: the server's `defaultNamingContext`.
    pub base_dn: Option<String>,
    pub page_size: i32,
    pub limits: Limits,
    /// Read the whole domain again once this long has passed since its last full read (the
    /// safety net for what an incremental sync cannot see); `None`: only when there is no
    /// cursor.
    pub full_every: Option<Duration>,
    /// This machine's time (the caller's wall clock): when the server gives none, it judges
    /// whether a full read is due; without either, every sync of such a server is full.
    pub local_time: Option<Timestamp>,
}

impl SyncOptions {
    pub fn new(url: &str, bind: Bind) -> Self {
        let transport = if url.to_ascii_lowercase().starts_with("ldaps://") {
            Transport::Ldaps
        } else {
            Transport::Plain
        };
        Self {
            url: url.to_owned(),
            transport,
            bind,
            ca_file: None,
            pin_sha256: None,
            insecure_skip_verify: false,
            base_dn: None,
            page_size: 500,
            limits: Limits::default(),
            full_every: Some(DEFAULT_FULL_EVERY),
            local_time: None,
        }
    }
}

const OBJECT_ATTRIBUTES: &[&str] = &[
    "objectClass",
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "description",
    "userAccountControl",
    "servicePrincipalName",
    "msDS-SupportedEncryptionTypes",
    "pwdLastSet",
    "lastLogonTimestamp",
    "adminCount",
    "primaryGroupID",
    "sIDHistory",
    "member",
    "groupType",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
    "msDS-AllowedToDelegateTo",
    "gPLink",
    "whenChanged",
    "uSNChanged",
];

const OBJECT_FILTER: &str = "(|(objectClass=user)(objectClass=group)(objectClass=computer)\
     (objectClass=organizationalUnit)(objectClass=msDS-ManagedServiceAccount)\
     (objectClass=msDS-GroupManagedServiceAccount))";

/// LDAP_SERVER_SHOW_DELETED_OID: tombstones become visible, so an incremental sync sees deletions.
const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

/// Attributes of one entry, decoded without panicking.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    pub dn: String,
    /// Lower-cased attribute name (with any `;range=` option kept) → values.
    pub attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.attrs.get(name).and_then(|v| v.first()).map(Vec::as_slice)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.first(name).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn texts(&self, name: &str) -> Vec<String> {
        self.attrs
            .get(name)
            .map(|values| values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect())
            .unwrap_or_default()
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text(name)?.trim().parse().ok()
    }
}

/// SearchResultEntry ::= [APPLICATION 4] SEQUENCE { objectName, attributes SEQUENCE OF
/// PartialAttribute { type, vals SET OF value } } (RFC 4511 4.5.2).
pub(crate) fn decode_entry(tag: StructureTag, limits: &Limits, cut: &mut Vec<String>) -> Option<Entry> {
    let PL::C(parts) = tag.payload else { return None };
    let mut parts = parts.into_iter();
    let PL::P(dn) = parts.next()?.payload else { return None };
    let PL::C(attributes) = parts.next()?.payload else { return None };
    let mut entry = Entry { dn: String::from_utf8_lossy(&dn).into_owned(), attrs: HashMap::new() };
    for attribute in attributes {
        let PL::C(pair) = attribute.payload else { continue };
        let mut pair = pair.into_iter();
        let (Some(name), Some(values)) = (pair.next(), pair.next()) else { continue };
        let (PL::P(name), PL::C(values)) = (name.payload, values.payload) else { continue };
        let name = String::from_utf8_lossy(&name).to_ascii_lowercase();
        if values.len() > limits.max_values {
            cut.push(format!("{}: {name} has {} values, kept {}", entry.dn, values.len(), limits.max_values));
        }
        let mut kept = Vec::with_capacity(values.len().min(limits.max_values));
        for value in values.into_iter().take(limits.max_values) {
            let PL::P(mut bytes) = value.payload else { continue };
            if bytes.len() > limits.max_value_bytes {
                cut.push(format!("{}: a {name} value of {} bytes cut", entry.dn, bytes.len()));
                bytes.truncate(limits.max_value_bytes);
            }
            kept.push(bytes);
        }
        entry.attrs.entry(name).or_default().extend(kept);
    }
    Some(entry)
}

/// Decodes one LDAPMessage as it crosses the wire and, when it is a SearchResultEntry, the
/// directory object it describes; anything else or anything malformed is None. For fuzzing
/// and tests: the sync gets its entries from ldap3 already framed.
pub fn decode_message(ber: &[u8], limits: &Limits) -> Option<(DirectoryObject, Vec<String>)> {
    let (_, message) = ldap3::asn1::parse_tag(ber).ok()?;
    let PL::C(parts) = message.payload else { return None };
    let operation = parts.into_iter().nth(1)?;
    if operation.id != 4 {
        return None;
    }
    let mut cut = Vec::new();
    let entry = decode_entry(operation, limits, &mut cut)?;
    Some((object_of(&entry), cut))
}

fn kind_of(classes: &[String]) -> Option<ObjectKind> {
    let has = |c: &str| classes.iter().any(|k| k.eq_ignore_ascii_case(c));
    if has("msDS-GroupManagedServiceAccount") || has("msDS-ManagedServiceAccount") {
        Some(ObjectKind::ServiceAccount)
    } else if has("computer") {
        Some(ObjectKind::Computer)
    } else if has("group") {
        Some(ObjectKind::Group)
    } else if has("user") {
        Some(ObjectKind::User)
    } else if has("organizationalUnit") {
        Some(ObjectKind::OrganizationalUnit)
    } else {
        None
    }
}

pub(crate) fn object_of(entry: &Entry) -> DirectoryObject {
    let sid_list = |name: &str| -> Vec<String> {
        entry
            .attrs
            .get(name)
            .map(|v| v.iter().filter_map(|s| ad::sid_to_string(s)).collect())
            .unwrap_or_default()
    };
    DirectoryObject {
        kind: kind_of(&entry.texts("objectclass")),
        dn: entry.dn.clone(),
        guid: entry.first("objectguid").and_then(ad::guid_to_string),
        sid: entry.first("objectsid").and_then(ad::sid_to_string),
        sam_account_name: entry.text("samaccountname"),
        user_principal_name: entry.text("userprincipalname"),
        display_name: entry.text("displayname"),
        description: entry.text("description"),
        user_account_control: entry.number::<i64>("useraccountcontrol").map(|v| v as u32),
        service_principal_names: entry.texts("serviceprincipalname"),
        supported_encryption_types: entry.number::<i64>("msds-supportedencryptiontypes").map(|v| v as u32),
        pwd_last_set: entry.text("pwdlastset").as_deref().and_then(ad::filetime),
        last_logon_timestamp: entry.text("lastlogontimestamp").as_deref().and_then(ad::filetime),
        admin_count: entry.number::<i64>("admincount").unwrap_or(0) != 0,
        primary_group_id: entry.number("primarygroupid"),
        sid_history: sid_list("sidhistory"),
        members: entry.texts("member"),
        group_type: entry.number::<i64>("grouptype").map(|v| v as i32),
        dns_host_name: entry.text("dnshostname").map(|h| h.to_ascii_lowercase()),
        operating_system: entry.text("operatingsystem"),
        operating_system_version: entry.text("operatingsystemversion"),
        allowed_to_delegate_to: entry.texts("msds-allowedtodelegateto"),
        gp_links: entry.text("gplink").as_deref().map(ad::gp_link_guids).unwrap_or_default(),
        when_changed: entry.text("whenchanged").as_deref().and_then(ad::generalized_time),
        usn_changed: entry.number("usnchanged").unwrap_or(0),
    }
}

/// `member;range=0-1499` → Some(Some(1499)); `member;range=1500-*` → Some(None).
fn member_range(attrs: &HashMap<String, Vec<Vec<u8>>>) -> Option<(String, Option<u64>)> {
    attrs.keys().find_map(|key| {
        let range = key.strip_prefix("member;range=")?;
        let (_, end) = range.split_once('-')?;
        Some((key.clone(), if end == "*" { None } else { end.parse().ok() }))
    })
}

struct Session {
    conn: LdapConn,
    limits: Limits,
    page_size: i32,
}

fn tls_error(error: orthrus_tls::TlsError) -> DirectoryError {
    DirectoryError::Tls(error.0)
}

fn ldap_error(what: &str) -> impl Fn(ldap3::LdapError) -> DirectoryError + '_ {
    move |e| DirectoryError::Ldap(format!("{what}: {e}"))
}

impl Session {
    fn open(options: &SyncOptions) -> Result<Self, DirectoryError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(options.limits.operation_timeout);
        if matches!(options.transport, Transport::StartTls) {
            settings = settings.set_starttls(true);
        }
        if !matches!(options.transport, Transport::Plain) {
            if options.insecure_skip_verify {
                settings = settings.set_no_tls_verify(true);
            } else if let Some(pin) = &options.pin_sha256 {
                settings = settings.set_config(Arc::new(orthrus_tls::pinned_config(pin).map_err(tls_error)?));
            } else if let Some(ca) = &options.ca_file {
                settings = settings.set_config(Arc::new(orthrus_tls::ca_config(ca).map_err(tls_error)?));
            }
        }
        let mut conn = LdapConn::with_settings(settings, &options.url)
            .map_err(|e| DirectoryError::Ldap(format!("cannot connect to {}: {e}", options.url)))?;
        conn.with_timeout(options.limits.operation_timeout);
        let result = match &options.bind {
            Bind::Anonymous => conn.simple_bind("", ""),
            Bind::Simple { dn, password } => conn.simple_bind(dn, password),
            Bind::Kerberos { server_name } => kerberos_bind(&mut conn, server_name.as_deref(), &options.url)?,
        };
        result.and_then(|r| r.success()).map_err(|e| {
            DirectoryError::Ldap(format!(
                "bind to {} refused: {e} (check the account and password; a DC that requires LDAP \
                 signing refuses simple binds over plain LDAP: use ldaps:// or --starttls)",
                options.url
            ))
        })?;
        Ok(Self { conn, limits: options.limits, page_size: options.page_size })
    }

    /// One search, every page, entries decoded and bounded.
    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        controls: Vec<RawControl>,
        cut: &mut Vec<String>,
    ) -> Result<Vec<Entry>, DirectoryError> {
        let limits = self.limits;
        let adapters: Vec<Box<dyn Adapter<_, _>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(self.page_size))];
        let conn = &mut self.conn;
        conn.with_timeout(limits.operation_timeout);
        conn.with_search_options(SearchOptions::new().timelimit(limits.operation_timeout.as_secs() as i32));
        if !controls.is_empty() {
            conn.with_controls(controls);
        }
        let what = format!("search {base} {filter}");
        let mut stream = conn
            .streaming_search_with(adapters, base, scope, filter, attrs.to_vec())
            .map_err(ldap_error(&what))?;
        let mut entries = Vec::new();
        while let Some(entry) = stream.next().map_err(ldap_error(&what))? {
            let tag = entry.0;
            if entries.len() >= limits.max_objects {
                cut.push(format!("{base}: more than {} objects, the rest skipped", limits.max_objects));
                break;
            }
            match decode_entry(tag, &limits, cut) {
                Some(entry) => entries.push(entry),
                None => cut.push(format!("{base}: a malformed search entry skipped")),
            }
        }
        let result = stream.result();
        // sizeLimitExceeded (4) after our own cut is expected, noSuchObject (32) is an empty
        // container (no subnets defined); others are errors.
        if result.rc != 0 && result.rc != 4 && result.rc != 32 {
            return Err(DirectoryError::Ldap(format!("{what}: {result}")));
        }
        Ok(entries)
    }

    fn read(&mut self, dn: &str, attrs: &[&str], cut: &mut Vec<String>) -> Result<Entry, DirectoryError> {
        self.search(dn, Scope::Base, "(objectClass=*)", attrs, Vec::new(), cut)?
            .into_iter()
            .next()
            .ok_or_else(|| DirectoryError::Ldap(format!("{dn} could not be read")))
    }

    /// AD returns at most MaxValRange (1500) members per read; fetch the other ranges.
    fn complete_members(&mut self, entry: &mut Entry, cut: &mut Vec<String>) -> Result<(), DirectoryError> {
        let mut rounds = 0;
        while let Some((key, end)) = member_range(&entry.attrs) {
            let values = entry.attrs.remove(&key).unwrap_or_default();
            entry.attrs.entry("member".into()).or_default().extend(values);
            let Some(end) = end else { break };
            rounds += 1;
            let have = entry.attrs.get("member").map_or(0, Vec::len);
            if have >= self.limits.max_values || rounds > 10_000 {
                cut.push(format!("{}: member ranges beyond {have} values skipped", entry.dn));
                break;
            }
            let next = format!("member;range={}-*", end + 1);
            let more = self.read(&entry.dn.clone(), &[next.as_str()], cut)?;
            entry.attrs.extend(more.attrs);
        }
        Ok(())
    }
}

/// The root DSE is readable before any bind: it names the DC, whose `ldap/` service the
/// Kerberos ticket must be for.
#[cfg(feature = "kerberos")]
fn kerberos_bind(
    conn: &mut LdapConn,
    server_name: Option<&str>,
    url: &str,
) -> Result<ldap3::result::Result<ldap3::LdapResult>, DirectoryError> {
    let name = match server_name {
        Some(name) => name.to_owned(),
        None => {
            let (entries, _) = conn
                .search("", Scope::Base, "(objectClass=*)", vec!["dnsHostName"])
                .and_then(|r| r.success())
                .map_err(ldap_error("reading the root DSE before the Kerberos bind"))?;
            let mut cut = Vec::new();
            entries
                .into_iter()
                .next()
                .and_then(|e| decode_entry(e.0, &Limits::default(), &mut cut))
                .and_then(|e| e.text("dnshostname"))
                .ok_or_else(|| {
                    DirectoryError::Ldap(format!("{url} names no dnsHostName: give --kerberos-server-name"))
                })?
        }
    };
    Ok(conn.sasl_gssapi_bind(&name))
}

#[cfg(not(feature = "kerberos"))]
fn kerberos_bind(
    _conn: &mut LdapConn,
    _server_name: Option<&str>,
    _url: &str,
) -> Result<ldap3::result::Result<ldap3::LdapResult>, DirectoryError> {
    Err(DirectoryError::Ldap(
        "this orthrus was built without Kerberos support: rebuild with `--features kerberos` \
         (needs libkrb5-dev and clang), or use a simple bind over LDAPS/StartTLS"
            .into(),
    ))
}

/// How a sync went.
#[derive(Debug)]
pub struct SyncOutcome {
    pub domain: Domain,
    pub changes: ChangeSummary,
    /// Only what changed since the previous snapshot's cursor was read.
    pub incremental: bool,
}

/// Reads one domain. When `previous` holds the domain synced from the same server, only objects
/// changed since its cursor are read (and deletions, through the show-deleted control) and
/// applied to it; USNs are per server, so another server means a full read.
pub fn sync(options: &SyncOptions, previous: &crate::Snapshot) -> Result<SyncOutcome, DirectoryError> {
    let mut session = Session::open(options)?;
    let mut cut = Vec::new();
    let root = session.read(
        "",
        &[
            "defaultNamingContext",
            "configurationNamingContext",
            "rootDomainNamingContext",
            "highestCommittedUSN",
            "dnsHostName",
            "currentTime",
        ],
        &mut cut,
    )?;
    let base = options.base_dn.clone().or_else(|| root.text("defaultnamingcontext")).ok_or_else(|| {
        DirectoryError::Ldap("the server names no defaultNamingContext; give --base".into())
    })?;
    let server = root.text("dnshostname").unwrap_or_else(|| options.url.clone());
    let highest_usn: u64 = root.number("highestcommittedusn").unwrap_or(0);
    let configuration = root.text("configurationnamingcontext");

    let domain_entry = session.read(&base, &["objectSid", "name", "gPLink"], &mut cut)?;
    let now = root.text("currenttime").as_deref().and_then(ad::generalized_time);
    // The DC's clock decides when a full read is due (the snapshot's times are the DC's); a
    // server that gives no time is judged by this machine's clock instead, so it still gets
    // its periodic full read.
    let clock = now.or(options.local_time);
    let reconciled = |p: &Domain| match (options.full_every, p.full_synced_at, clock) {
        (None, _, _) => true,
        (Some(every), Some(last), Some(clock)) => {
            clock.as_micros().saturating_sub(last.as_micros())
                < i64::try_from(every.as_micros()).unwrap_or(i64::MAX)
        }
        // No record of a full read, or no clock to judge by: read everything.
        _ => false,
    };
    let incremental = previous
        .domain(&base)
        .filter(|p| p.synced_from.eq_ignore_ascii_case(&server) && p.highest_usn > 0 && reconciled(p));
    let filter = match incremental {
        Some(p) => format!("(&{OBJECT_FILTER}(uSNChanged>={}))", p.highest_usn + 1),
        None => OBJECT_FILTER.to_owned(),
    };
    info!(server, base, incremental = incremental.is_some(), "reading directory objects");
    let mut entries =
        session.search(&base, Scope::Subtree, &filter, OBJECT_ATTRIBUTES, Vec::new(), &mut cut)?;
    for entry in &mut entries {
        session.complete_members(entry, &mut cut)?;
    }
    let objects: Vec<DirectoryObject> = entries.iter().map(object_of).collect();
    debug!(count = objects.len(), "objects read");

    let mut domain = Domain {
        dns_name: ad::dns_name_of_dn(&base),
        netbios_name: None,
        dn: base.clone(),
        sid: domain_entry.first("objectsid").and_then(ad::sid_to_string),
        forest_root: root.text("rootdomainnamingcontext"),
        synced_from: server,
        highest_usn,
        synced_at: now,
        full_synced_at: match incremental {
            Some(previous) => previous.full_synced_at,
            None => clock,
        },
        gp_links: domain_entry.text("gplink").as_deref().map(ad::gp_link_guids).unwrap_or_default(),
        objects: Vec::new(),
        trusts: Vec::new(),
        sites: Vec::new(),
        subnets: Vec::new(),
        truncations: Vec::new(),
    };
    let changes = match incremental {
        Some(previous) => {
            // Tombstones need read access to Deleted Objects; without it the sync goes on and
            // says that deletions were not seen.
            let deleted =
                deleted_guids(&mut session, &base, previous.highest_usn, &mut cut).unwrap_or_else(|e| {
                    cut.push(format!("{base}: deletions not seen (no access to Deleted Objects?): {e}"));
                    Vec::new()
                });
            domain.objects = previous.objects.clone();
            domain.apply_changes(objects, &deleted)
        }
        None => {
            let summary = ChangeSummary {
                added: objects.iter().map(|o| o.dn.clone()).collect(),
                ..ChangeSummary::default()
            };
            domain.objects = objects;
            summary
        }
    };
    domain.trusts = trusts(&mut session, &base, &mut cut)?;
    if let Some(configuration) = configuration {
        domain.netbios_name = netbios_name(&mut session, &configuration, &base, &mut cut)?;
        let (sites, subnets) = sites_and_subnets(&mut session, &configuration, &mut cut)?;
        domain.sites = sites;
        domain.subnets = subnets;
    }
    domain.truncations = cut;
    let _ = session.conn.unbind();
    Ok(SyncOutcome { domain, changes, incremental: incremental.is_some() })
}

fn deleted_guids(
    session: &mut Session,
    base: &str,
    since: u64,
    cut: &mut Vec<String>,
) -> Result<Vec<String>, DirectoryError> {
    let control = RawControl { ctype: SHOW_DELETED.into(), crit: true, val: None };
    let filter = format!("(&(isDeleted=TRUE)(uSNChanged>={}))", since + 1);
    let entries = session.search(base, Scope::Subtree, &filter, &["objectGUID"], vec![control], cut)?;
    Ok(entries.iter().filter_map(|e| e.first("objectguid").and_then(ad::guid_to_string)).collect())
}

fn trusts(session: &mut Session, base: &str, cut: &mut Vec<String>) -> Result<Vec<Trust>, DirectoryError> {
    let system = format!("CN=System,{base}");
    let entries = session.search(
        &system,
        Scope::OneLevel,
        "(objectClass=trustedDomain)",
        &["trustPartner", "flatName", "securityIdentifier", "trustDirection", "trustType", "trustAttributes"],
        Vec::new(),
        cut,
    )?;
    Ok(entries
        .iter()
        .map(|e| Trust {
            partner: e.text("trustpartner").unwrap_or_default(),
            flat_name: e.text("flatname"),
            sid: e.first("securityidentifier").and_then(ad::sid_to_string),
            direction: e.number("trustdirection").unwrap_or(0),
            trust_type: e.number("trusttype").unwrap_or(0),
            attributes: e.number("trustattributes").unwrap_or(0),
        })
        .collect())
}

fn netbios_name(
    session: &mut Session,
    configuration: &str,
    base: &str,
    cut: &mut Vec<String>,
) -> Result<Option<String>, DirectoryError> {
    let partitions = format!("CN=Partitions,{configuration}");
    let filter = format!("(&(objectClass=crossRef)(nCName={}))", ldap3::ldap_escape(base));
    let entries = session.search(&partitions, Scope::OneLevel, &filter, &["nETBIOSName"], Vec::new(), cut)?;
    Ok(entries.iter().find_map(|e| e.text("netbiosname")))
}

fn sites_and_subnets(
    session: &mut Session,
    configuration: &str,
    cut: &mut Vec<String>,
) -> Result<(Vec<Site>, Vec<Subnet>), DirectoryError> {
    let sites_dn = format!("CN=Sites,{configuration}");
    let sites = session
        .search(&sites_dn, Scope::OneLevel, "(objectClass=site)", &["name"], Vec::new(), cut)?
        .iter()
        .map(|e| Site {
            name: e.text("name").unwrap_or_else(|| ad::rdn_value(&e.dn).to_owned()),
            dn: e.dn.clone(),
        })
        .collect();
    let subnets_dn = format!("CN=Subnets,{sites_dn}");
    let subnets = session
        .search(
            &subnets_dn,
            Scope::OneLevel,
            "(objectClass=subnet)",
            &["name", "siteObject"],
            Vec::new(),
            cut,
        )?
        .iter()
        .map(|e| Subnet {
            prefix: e.text("name").unwrap_or_else(|| ad::rdn_value(&e.dn).to_owned()),
            site: e.text("siteobject").map(|dn| ad::rdn_value(&dn).to_owned()),
        })
        .collect();
    Ok((sites, subnets))
}
