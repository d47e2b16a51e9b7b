//! `orthrus admin`: tenants, sensor credentials, users, their grants and API tokens, in the
//! center's store. Tokens are printed once, here, and kept only as hashes.

use anyhow::Context;
use orthrus_model::TenantId;
use orthrus_store::Role;
use std::io::IsTerminal as _;

use orthrus_store::credentials::{hash_password, new_token};

use crate::{exit, wall_clock as now};

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The center's store: a SQLite file (created when missing) or a PostgreSQL URL
    /// (`postgres://user:password@host/database`; needs a build with `--features postgres`).
    #[arg(long, env = "ORTHRUS_STORE", default_value = "orthrus.db")]
    store: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Tenants: the organisations one center serves, each seeing only its own data.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Sensor credentials: each belongs to one tenant.
    Sensor {
        #[command(subcommand)]
        command: SensorCommand,
    },
    /// Users of the API and the web UI, their roles per tenant, their API tokens.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(clap::Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Add {
        /// Its id: lower-case letters, digits, - and _ (used in URLs).
        id: String,
        /// Its display name (the id when not given).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List,
}

#[derive(clap::Subcommand)]
enum SensorCommand {
    /// Create a sensor credential and print its token (shown once).
    Add {
        #[arg(long)]
        tenant: String,
        /// The sensor's name, unique in its tenant (the DC it runs beside, say).
        name: String,
    },
    /// List a tenant's sensors with their last heartbeat.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove a sensor's credential: its token stops working at once (a stolen or retired
    /// sensor). What it sent stays; add it again for a new token.
    Remove {
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user.
    Add { name: String },
    /// Give a user a role in a tenant (replacing the role it had there).
    Grant {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["viewer", "analyst", "admin"])]
        role: String,
    },
    /// Create an API token for a user and print it (shown once).
    Token {
        name: String,
        /// What the token is for (a script, a SIEM connector).
        #[arg(long, default_value = "api")]
        label: String,
    },
    /// Set a user's web UI password, read from the first line of standard input (at least
    /// 12 characters; kept as an Argon2id hash).
    Password { name: String },
    /// Show a user's grants and API tokens (their ids and labels; the tokens themselves are
    /// never kept).
    Show { name: String },
    /// Take a user's role in a tenant away, at once (API and web UI).
    Revoke {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Revoke API tokens of a user, at once: one by its id (as `user show` lists it), those
    /// with a label, or all.
    RevokeToken {
        name: String,
        /// The token's id (the first hex digits `user show` lists; at least 8).
        #[arg(long, conflicts_with_all = ["label", "all"], required_unless_present_any = ["label", "all"])]
        id: Option<String>,
        #[arg(long, conflicts_with = "all")]
        label: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Remove a user with its grants and API tokens; its web UI sessions end at their next
    /// request.
    Remove { name: String },
}

pub fn run(args: &AdminArgs) -> anyhow::Result<u8> {
    let store =
        orthrus_store::open_store(&args.store).with_context(|| format!("opening store {}", args.store))?;
    match &args.command {
        AdminCommand::Tenant { command: TenantCommand::Add { id, name } } => {
            let tenant =
                store.create_tenant(&TenantId(id.as_str().into()), name.as_deref().unwrap_or(id), now())?;
            println!("tenant {} ({}) created", tenant.id, tenant.name);
        }
        AdminCommand::Tenant { command: TenantCommand::List } => {
            for tenant in store.tenants()? {
                println!("{}\t{}\t{}", tenant.id, tenant.name, tenant.created);
            }
        }
        AdminCommand::Sensor { command: SensorCommand::Add { tenant, name } } => {
            let (token, hash) = new_token()?;
            let sensor = store.create_sensor(&TenantId(tenant.as_str().into()), name, &hash, now())?;
            eprintln!("sensor {} created; its token (shown once, put it in the sensor's config):", sensor.id);
            println!("{token}");
        }
        AdminCommand::Sensor { command: SensorCommand::List { tenant } } => {
            for sensor in store.sensors(&TenantId(tenant.as_str().into()))? {
                let seen = sensor.last_seen.map_or_else(|| "never".to_owned(), |t| t.to_string());
                println!(
                    "{}\t{}\tlast seen {seen}\t{}",
                    sensor.id,
                    sensor.name,
                    sensor.version.unwrap_or_default()
                );
            }
        }
        AdminCommand::User { command: UserCommand::Add { name } } => {
            store.create_user(name, None, now())?;
            println!("user {name} created");
        }
        AdminCommand::User { command: UserCommand::Grant { name, tenant, role } } => {
            let role = Role::parse(role).context("role")?;
            store.grant(name, &TenantId(tenant.as_str().into()), role)?;
            println!("{name} is {} in {tenant}", role.name());
        }
        AdminCommand::User { command: UserCommand::Token { name, label } } => {
            let (token, hash) = new_token()?;
            store.add_user_token(name, &hash, label, now())?;
            eprintln!("API token for {name} ({label}), shown once:");
            println!("{token}");
        }
        AdminCommand::User { command: UserCommand::Password { name } } => {
            if std::io::stdin().is_terminal() {
                eprintln!("password for {name} (echoed; pipe it in to keep it off the screen):");
            }
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']);
            store.set_password(name, &hash_password(password)?)?;
            println!("password of {name} set; the web UI sessions it had are over");
        }
        AdminCommand::User { command: UserCommand::Show { name } } => {
            let user = store.user(name)?.with_context(|| format!("no user {name}"))?;
            println!("{}", user.name);
            for (tenant, role) in user.grants {
                println!("  {tenant}\t{}", role.name());
            }
            for token in store.user_tokens(name)? {
                println!("  token {}\t{}\tcreated {}", token.id(), token.label, token.created);
            }
        }
        AdminCommand::User { command: UserCommand::Revoke { name, tenant } } => {
            if !store.revoke_grant(name, &TenantId(tenant.as_str().into()))? {
                anyhow::bail!("{name} has no role in {tenant}");
            }
            println!("{name} has no role in {tenant} any more");
        }
        AdminCommand::User { command: UserCommand::RevokeToken { name, id, label, all } } => {
            revoke_tokens(store.as_ref(), name, id.as_deref(), label.as_deref(), *all)?;
        }
        AdminCommand::User { command: UserCommand::Remove { name } } => {
            if !store.remove_user(name)? {
                anyhow::bail!("no user {name}");
            }
            println!("user {name} removed, with its grants and API tokens");
        }
        AdminCommand::Sensor { command: SensorCommand::Remove { tenant, name } } => {
            if !store.remove_sensor(&TenantId(tenant.as_str().into()), name)? {
                anyhow::bail!("tenant {tenant} has no sensor {name}");
            }
            println!("sensor {tenant}:{name} removed; its token no longer works");
        }
    }
    Ok(exit::OK)
}

/// Shortest token id accepted: 8 hex digits (32 bits) cannot name the wrong one of a user's
/// few tokens by accident.
const MIN_TOKEN_ID: usize = 8;

fn revoke_tokens(
    store: &dyn orthrus_store::Store,
    user: &str,
    id: Option<&str>,
    label: Option<&str>,
    all: bool,
) -> anyhow::Result<()> {
    if store.user(user)?.is_none() {
        anyhow::bail!("no user {user}");
    }
    if let Some(id) = id
        && (id.len() < MIN_TOKEN_ID || !id.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        anyhow::bail!(
            "a token id is at least {MIN_TOKEN_ID} hex digits, as `orthrus admin user show {user}` lists it"
        );
    }
    let chosen: Vec<_> = store
        .user_tokens(user)?
        .into_iter()
        .filter(|token| {
            all || id.is_some_and(|id| token.id().starts_with(&id.to_ascii_lowercase()))
                || label.is_some_and(|label| token.label == label)
        })
        .collect();
    if chosen.is_empty() {
        anyhow::bail!("{user} has no such token (see `orthrus admin user show {user}`)");
    }
    for token in &chosen {
        store.remove_user_token(&token.hash)?;
        println!("token {} ({}) of {user} revoked", token.id(), token.label);
    }
    Ok(())
}
