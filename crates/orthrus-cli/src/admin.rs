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
    /// Show a user's grants.
    Show { name: String },
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
            println!("password of {name} set");
        }
        AdminCommand::User { command: UserCommand::Show { name } } => {
            let user = store.user(name)?.with_context(|| format!("no user {name}"))?;
            println!("{}", user.name);
            for (tenant, role) in user.grants {
                println!("  {tenant}\t{}", role.name());
            }
        }
    }
    Ok(exit::OK)
}
