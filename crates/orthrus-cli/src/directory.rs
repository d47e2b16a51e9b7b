//! `orthrus directory`: sync a domain over LDAP into a snapshot file, and ask the snapshot.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use orthrus_directory::ldap::{self, Bind, SyncOptions, Transport};
use orthrus_directory::{Directory, EntityTags, ObjectKind, Snapshot};

use crate::exit;

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Read a domain over LDAP into a snapshot file. When the file already holds the domain
    /// (synced from the same DC), only what changed since is read. Repeat with another --url to
    /// add more domains or forests to the same file.
    Sync(SyncArgs),
    /// Look an account, group or computer up in a snapshot, by SID, DOMAIN\name, UPN, DN, SPN
    /// or name, and say whether it is sensitive (and why) or a honeytoken.
    Lookup {
        /// The snapshot file.
        #[arg(long)]
        directory: PathBuf,
        /// Detection settings (TOML) holding `[entities] sensitive` and `[honeytoken] accounts`.
        #[arg(long)]
        config: Option<PathBuf>,
        names: Vec<String>,
    },
    /// Send a snapshot to the center for a tenant (enrichment and entity profiles there);
    /// needs an admin user's API token. Run after each sync.
    Upload {
        #[arg(long)]
        directory: PathBuf,
        /// `https://HOST:PORT` of the center.
        #[arg(long)]
        center: String,
        /// The center certificate's SHA-256 fingerprint, as `orthrus server` prints it.
        #[arg(long)]
        center_fingerprint: String,
        /// A file holding an API token of an admin of the tenant.
        #[arg(long)]
        token_file: PathBuf,
        #[arg(long)]
        tenant: String,
    },
    /// Summarise a snapshot: domains, object counts, sensitive accounts.
    Show {
        #[arg(long)]
        directory: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct SyncArgs {
    /// The DC to read: ldap://dc1.example.com, ldaps://dc1.example.com (port 636).
    #[arg(long)]
    url: String,
    /// Upgrade a plain ldap:// connection with StartTLS.
    #[arg(long)]
    starttls: bool,
    /// Bind DN or user principal (user@example.com) for a simple bind; anonymous without it.
    #[arg(long)]
    bind_dn: Option<String>,
    /// Bind with Kerberos (SASL GSSAPI) using the ticket cache of `kinit` (`KRB5CCNAME`),
    /// instead of a password (builds with the `kerberos` feature).
    #[arg(long, conflicts_with_all = ["bind_dn", "password_file"])]
    kerberos: bool,
    /// The DC's DNS name for the Kerberos service ticket (`ldap/NAME`); default: the name the
    /// DC gives in its root DSE.
    #[arg(long, requires = "kerberos")]
    kerberos_server_name: Option<String>,
    /// File holding the bind password (first line), so it never appears in `ps`.
    #[arg(long, env = "ORTHRUS_LDAP_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the DC's certificate (LDAPS/StartTLS).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Accept exactly the DC certificate with this SHA-256 fingerprint (hex), e.g. from
    /// `openssl x509 -in cert.pem -noout -fingerprint -sha256`.
    #[arg(long)]
    pin_sha256: Option<String>,
    /// Accept any TLS certificate (labs only).
    #[arg(long)]
    insecure_skip_verify: bool,
    /// The domain to read (default: the DC's defaultNamingContext).
    #[arg(long)]
    base: Option<String>,
    /// Read everything even when the snapshot has a cursor for this domain.
    #[arg(long)]
    full: bool,
    /// Read the whole domain again when its last full read is older than this many days
    /// (what an incremental sync cannot see is then put right).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..))]
    full_every_days: u64,
    /// Never read the whole domain again on a schedule (only with --full or without a cursor).
    #[arg(long, conflicts_with = "full_every_days")]
    no_full_reconciliation: bool,
    /// LDAP page size.
    #[arg(long, default_value_t = 500)]
    page_size: i32,
    /// Timeout per LDAP operation, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// The snapshot file to create or update.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(command: &DirectoryCommand) -> Result<u8> {
    match command {
        DirectoryCommand::Sync(args) => sync(args),
        DirectoryCommand::Lookup { directory, config, names } => lookup(directory, config.as_ref(), names),
        DirectoryCommand::Show { directory, config } => show(directory, config.as_ref()),
        DirectoryCommand::Upload { directory, center, center_fingerprint, token_file, tenant } => {
            upload(directory, center, center_fingerprint, token_file, tenant)
        }
    }
}

fn sync(args: &SyncArgs) -> Result<u8> {
    let bind = match (&args.bind_dn, &args.password_file) {
        (Some(dn), Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the password file {}", file.display()))?;
            Bind::Simple { dn: dn.clone(), password: text.lines().next().unwrap_or_default().to_owned() }
        }
        (Some(_), None) => bail!("--bind-dn needs --password-file (or ORTHRUS_LDAP_PASSWORD_FILE)"),
        (None, _) if args.kerberos => Bind::Kerberos { server_name: args.kerberos_server_name.clone() },
        (None, _) => Bind::Anonymous,
    };
    let mut options = SyncOptions::new(&args.url, bind);
    if args.starttls {
        options.transport = Transport::StartTls;
    }
    if matches!(options.transport, Transport::Plain) && matches!(options.bind, Bind::Simple { .. }) {
        eprintln!(
            "orthrus: warning: simple bind over plain LDAP sends the password in clear; prefer ldaps:// or --starttls"
        );
    }
    options.ca_file = args.ca_file.clone();
    options.insecure_skip_verify = args.insecure_skip_verify;
    options.pin_sha256 = args.pin_sha256.clone();
    options.base_dn = args.base.clone();
    options.page_size = args.page_size.max(1);
    options.limits.operation_timeout = std::time::Duration::from_secs(args.timeout.max(1));
    options.local_time = Some(crate::wall_clock());
    options.full_every = (!args.no_full_reconciliation)
        .then(|| std::time::Duration::from_secs(args.full_every_days.saturating_mul(86_400)));

    let mut snapshot =
        if args.output.exists() { Snapshot::load(&args.output)? } else { Snapshot::new(Vec::new()) };
    let empty = Snapshot::default();
    let outcome = ldap::sync(&options, if args.full { &empty } else { &snapshot })?;
    let (domain, summary) = (outcome.domain, outcome.changes);
    let mode = if outcome.incremental { "incremental" } else { "full" };
    eprintln!(
        "{} ({}): {mode} sync from {}: {} objects; {} added, {} changed, {} deleted; cursor USN {}",
        domain.dns_name,
        domain.netbios_name.as_deref().unwrap_or("?"),
        domain.synced_from,
        domain.objects.len(),
        summary.added.len(),
        summary.modified.len(),
        summary.deleted.len(),
        domain.highest_usn
    );
    if mode == "incremental" {
        for (what, dns) in
            [("added", &summary.added), ("changed", &summary.modified), ("deleted", &summary.deleted)]
        {
            for dn in dns {
                eprintln!("  {what}: {dn}");
            }
        }
    }
    for cut in &domain.truncations {
        eprintln!("orthrus: warning: {cut}");
    }
    snapshot.upsert(domain);
    snapshot.save(&args.output)?;
    Ok(exit::OK)
}

pub fn load_directory(path: &std::path::Path, tags: &EntityTags) -> Result<Directory> {
    let snapshot = Snapshot::load(path)?;
    Ok(Directory::new(snapshot, tags))
}

fn tags_from(config: Option<&PathBuf>) -> Result<EntityTags> {
    let config = crate::config::load_config(config)?;
    Ok(config.entity_tags())
}

fn lookup(path: &std::path::Path, config: Option<&PathBuf>, names: &[String]) -> Result<u8> {
    let directory = load_directory(path, &tags_from(config)?)?;
    let mut missing = false;
    for name in names {
        match directory.find(name).or_else(|| directory.find_computer(name)) {
            Some(found) => {
                let o = found.object;
                let mut line = format!(
                    "{name}: {} {:?} sid={} dn=\"{}\"",
                    found.qualified_name(),
                    o.kind.unwrap_or(ObjectKind::User),
                    o.sid.as_deref().unwrap_or("-"),
                    o.dn
                );
                if let Some(s) = directory.sensitivity(&found) {
                    line.push_str(&format!(" SENSITIVE ({})", s.reason));
                }
                if directory.is_honeytoken(&found) {
                    line.push_str(" HONEYTOKEN");
                }
                if o.does_not_require_preauth() {
                    line.push_str(" no-preauth");
                }
                if o.is_domain_controller() {
                    line.push_str(" domain-controller");
                }
                if !o.service_principal_names.is_empty() {
                    line.push_str(&format!(" spns={}", o.service_principal_names.join(",")));
                }
                println!("{line}");
            }
            None => {
                println!("{name}: not found");
                missing = true;
            }
        }
    }
    Ok(if missing { exit::INPUT_ERRORS } else { exit::OK })
}

fn show(path: &std::path::Path, config: Option<&PathBuf>) -> Result<u8> {
    let directory = load_directory(path, &tags_from(config)?)?;
    for domain in &directory.snapshot().domains {
        let count = |kind| domain.objects.iter().filter(|o| o.kind == Some(kind)).count();
        println!(
            "{} ({}) {} synced from {} at USN {}: {} users, {} computers, {} groups, {} service accounts, {} OUs, {} trusts, {} sites, {} subnets",
            domain.dns_name,
            domain.netbios_name.as_deref().unwrap_or("?"),
            domain.sid.as_deref().unwrap_or("?"),
            domain.synced_from,
            domain.highest_usn,
            count(ObjectKind::User),
            count(ObjectKind::Computer),
            count(ObjectKind::Group),
            count(ObjectKind::ServiceAccount),
            count(ObjectKind::OrganizationalUnit),
            domain.trusts.len(),
            domain.sites.len(),
            domain.subnets.len()
        );
    }
    for domain in &directory.snapshot().domains {
        for object in &domain.objects {
            if let Some(found) = directory.find(&object.dn)
                && object.kind != Some(ObjectKind::Group)
                && let Some(s) = directory.sensitivity(&found)
            {
                println!("sensitive: {} ({})", found.qualified_name(), s.reason);
            }
        }
    }
    Ok(exit::OK)
}

fn upload(
    path: &std::path::Path,
    center: &str,
    fingerprint: &str,
    token_file: &std::path::Path,
    tenant: &str,
) -> Result<u8> {
    // Checked here so a wrong file is named before anything is sent.
    let snapshot = Snapshot::load(path)?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the token from {}", token_file.display()))?;
    let client = orthrus_sensor::client::CenterClient::pinned(center, fingerprint, &token)?;
    let answer = client
        .post(&format!("/api/v1/tenants/{tenant}/directory"), &serde_json::to_value(&snapshot)?)
        .with_context(|| format!("uploading {} to {center}", path.display()))?;
    println!(
        "{}: {} domains, {} objects now at the center for tenant {tenant}",
        path.display(),
        answer.get("domains").unwrap_or(&serde_json::Value::Null),
        answer.get("objects").unwrap_or(&serde_json::Value::Null)
    );
    Ok(exit::OK)
}
