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

/// `orthrus admin user password` reads the password from standard input and keeps only its
/// Argon2id hash; short passwords and unknown users are refused with the reason.
#[test]
fn admin_sets_web_ui_passwords_from_standard_input() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("center.db");
    let password = |user: &str, text: &str| {
        let mut child = orthrus()
            .arg("admin")
            .arg("--store")
            .arg(&store)
            .args(["user", "password", user])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let out =
        orthrus().arg("admin").arg("--store").arg(&store).args(["user", "add", "alice"]).output().unwrap();
    assert!(out.status.success());
    let (code, said) = password("alice", "too short\n");
    assert_eq!(code, Some(2));
    assert!(said.contains("at least 12 characters"), "{said}");
    let (code, said) = password("mallory", "long enough password\n");
    assert_eq!(code, Some(2));
    assert!(said.contains("user mallory not found"), "{said}");
    assert_eq!(password("alice", "long enough password\r\n").0, Some(0));
    let kept = SqliteStore::open(&store).unwrap().user("alice").unwrap().unwrap().password_hash.unwrap();
    assert!(kept.starts_with("$argon2id$"), "{kept}");
    assert!(orthrus_store::credentials::verify_password("long enough password", &kept));
}
