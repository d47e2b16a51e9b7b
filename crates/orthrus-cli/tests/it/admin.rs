//! `orthrus admin` against a store file: what it prints is what the store then recognises.

use orthrus_model::TenantId;
use orthrus_store::credentials::token_hash;
use orthrus_store::{Role, SqliteStore, Store};

use super::orthrus;

#[test]
fn admin_creates_tenants_sensor_credentials_users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("center.db");
    let admin = |args: &[&str]| {
        let out = orthrus().arg("admin").arg("--store").arg(&store).args(args).output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    assert_eq!(admin(&["tenant", "add", "acme", "--name", "ACME Corp"]).0, Some(0));
    assert_eq!(admin(&["tenant", "add", "globex"]).0, Some(0));
    let (code, sensor_token, said) = admin(&["sensor", "add", "--tenant", "acme", "dc1"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("shown once"));
    assert_eq!(admin(&["user", "add", "alice"]).0, Some(0));
    assert_eq!(admin(&["user", "grant", "alice", "--tenant", "globex", "--role", "viewer"]).0, Some(0));
    let (code, user_token, _) = admin(&["user", "token", "alice", "--label", "siem"]);
    assert_eq!(code, Some(0));

    // Mistakes are refused with the reason.
    let (code, _, said) = admin(&["sensor", "add", "--tenant", "initech", "dc1"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("tenant initech not found"), "{said}");
    let (code, _, said) = admin(&["tenant", "add", "acme"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("already exists"), "{said}");
    assert_eq!(admin(&["user", "grant", "alice", "--tenant", "acme", "--role", "root"]).0, Some(2));

    let listed = admin(&["tenant", "list"]).1;
    assert!(listed.contains("acme\tACME Corp") && listed.contains("globex\tglobex"), "{listed}");

    // The printed tokens are what the store knows the sensor and the user by.
    let db = SqliteStore::open(&store).unwrap();
    let sensor = db.sensor_for_token(&token_hash(sensor_token.trim())).unwrap().unwrap();
    assert_eq!((sensor.tenant, sensor.name.as_str()), (TenantId("acme".into()), "dc1"));
    let user = db.user_for_token(&token_hash(user_token.trim())).unwrap().unwrap();
    assert_eq!(user.grants, [(TenantId("globex".into()), Role::Viewer)]);
    assert_ne!(sensor_token, user_token);
    assert!(
        db.user_for_token(&token_hash(sensor_token.trim())).unwrap().is_none(),
        "a sensor token is no user token"
    );
}
