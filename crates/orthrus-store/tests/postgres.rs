//! The storage suite on a real PostgreSQL server (feature `postgres`). `ORTHRUS_PG_URL` names
//! a server and a role that may create databases (.ci/run starts Debian's cluster and makes
//! one); each test gets a database of its own. Without the variable these tests fail: a
//! backend that was not tested is not assumed to work.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod suite;

use std::sync::atomic::{AtomicUsize, Ordering};

use orthrus_store::{PostgresStore, Store};

static DATABASES: AtomicUsize = AtomicUsize::new(0);
static SWEPT: std::sync::Once = std::sync::Once::new();

fn server() -> postgres::Config {
    let url = std::env::var("ORTHRUS_PG_URL")
        .expect("ORTHRUS_PG_URL: a PostgreSQL server these tests may create databases on (see .ci/run)");
    url.parse().expect("ORTHRUS_PG_URL")
}

/// A new, empty database on the server, the store's schema migrated into it.
fn fresh() -> Box<dyn Store> {
    let config = server();
    let mut admin = config.connect(postgres::NoTls).expect("connecting to ORTHRUS_PG_URL");
    // Databases this role left in earlier runs of this suite (not this process's) go first.
    SWEPT.call_once(|| {
        let mine = format!("orthrus_test_{}_", std::process::id());
        let old = admin
            .query(
                "SELECT datname FROM pg_database
                 WHERE datname LIKE 'orthrus\\_test\\_%' AND pg_get_userbyid(datdba) = current_user",
                &[],
            )
            .unwrap();
        for row in old {
            let name: String = row.get(0);
            if !name.starts_with(&mine) {
                admin.execute(&format!("DROP DATABASE IF EXISTS \"{name}\""), &[]).unwrap();
            }
        }
    });
    let name = format!("orthrus_test_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
    admin.execute(&format!("CREATE DATABASE \"{name}\""), &[]).unwrap();
    let mut config = config;
    config.dbname(&name);
    Box::new(PostgresStore::connect_with(&config).unwrap())
}

store_suite!(fresh());

#[test]
fn migrations_run_once_on_an_existing_schema() {
    let config = server();
    let mut admin = config.connect(postgres::NoTls).unwrap();
    let name = format!("orthrus_test_{}_reopen", std::process::id());
    admin.execute(&format!("DROP DATABASE IF EXISTS \"{name}\""), &[]).unwrap();
    admin.execute(&format!("CREATE DATABASE \"{name}\""), &[]).unwrap();
    let mut config = config;
    config.dbname(&name);
    let first = PostgresStore::connect_with(&config).unwrap();
    first.create_tenant(&suite::tenant("acme"), "ACME", orthrus_model::Timestamp::from_micros(1)).unwrap();
    drop(first);
    let again = PostgresStore::connect_with(&config).unwrap();
    assert_eq!(again.tenants().unwrap().len(), 1);
}
