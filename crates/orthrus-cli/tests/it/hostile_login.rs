//! `orthrus server`'s credentials under attack, as a process on loopback: a login flood with
//! made-up names, guessing one user's password, names that may be passwords, and every kind
//! of revocation (`orthrus admin … revoke/remove`, a password change) taking effect at once.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use super::hostile::Center;
use super::server::admin;

const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";
const PASSWORD: &str = "correct horse battery";

fn set_password(center: &Center, user: &str, password: &str) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
        .args(["admin", "--store"])
        .arg(&center.store)
        .args(["user", "password", user])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A login from `source`: the status and the session cookie it set, if any.
fn login(center: &Center, source: &str, user: &str, password: &str) -> (u16, Option<String>, String) {
    let form = format!("user={user}&password={}", password.replace(' ', "+"));
    let (status, head, _) = center.post(source, "/ui/login", FORM, form.as_bytes());
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .filter(|c| !c.ends_with('='))
        .map(str::to_owned);
    (status, cookie, head)
}

/// A UI page with a session cookie: the status and where it sends the browser.
fn page(center: &Center, path: &str, cookie: &str) -> (u16, String) {
    let raw =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    let (status, head, _) = center.request("127.0.0.1", raw.as_bytes());
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or_default()
        .to_owned();
    (status, location)
}

#[test]
fn a_login_flood_stays_small_and_a_real_login_stays_fast() {
    let center = Center::start("", None);
    set_password(&center, "alice", PASSWORD);
    // One login first: the center's own memory (the decoy hash made, a verification done).
    assert_eq!(login(&center, "127.0.0.1", "alice", "not the password").0, 401);
    let before = center.memory_kib("VmHWM:");
    // 150 logins at once with names nobody has, from ten addresses.
    let flood: Vec<_> = (0..150)
        .map(|n| {
            let center_address = center.address;
            let cert = center.cert.clone();
            std::thread::spawn(move || {
                let source = format!("127.0.0.{}", 10 + n % 10);
                let form = format!("user=nobody{n}&password=guess{n}");
                let raw = format!(
                    "POST /ui/login HTTP/1.1\r\nHost: localhost\r\n{FORM}Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
                    form.len()
                );
                let mut stream = super::hostile::tls(super::hostile::connect_from(&source, center_address), &cert);
                std::io::Write::write_all(&mut stream, raw.as_bytes()).unwrap();
                let mut answer = Vec::new();
                let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
                String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse::<u16>().ok())
            })
        })
        .collect();
    // The real user signs in meanwhile, at once.
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (status, cookie, head) = login(&center, "127.0.0.1", "alice", PASSWORD);
    let took = started.elapsed();
    assert_eq!(status, 303, "{head}");
    assert!(cookie.is_some(), "{head}");
    assert!(took < Duration::from_secs(3), "a real login took {took:?}");
    let statuses: Vec<Option<u16>> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    // Each refused: a wrong password (401), or held back (429, 503) without verifying.
    assert!(statuses.iter().all(|s| matches!(s, Some(401 | 429 | 503))), "{statuses:?}");
    assert!(statuses.contains(&Some(429)), "one verification per address at a time: {statuses:?}");
    // Two Argon2 runs at most at once (19 MiB each): the flood adds tens of MiB, far from the
    // 3 GB such a flood once took.
    let peak = center.memory_kib("VmHWM:");
    assert!(peak - before < 128 * 1024, "{before} KiB before, {peak} KiB at the peak");
    // The made-up names are no users': they are not echoed in the log.
    let log = center.log_text();
    assert!(!log.contains("nobody1") && !log.contains("guess"), "{log}");
    assert!(log.contains("failed: no such user"), "{log}");
}

#[test]
fn guessing_slows_down_and_the_wait_ends() {
    let center = Center::start("", None);
    set_password(&center, "alice", PASSWORD);
    let guesser = "127.0.0.20";
    for _ in 0..3 {
        assert_eq!(login(&center, guesser, "alice", "wrong password").0, 401);
    }
    assert_eq!(login(&center, guesser, "alice", "wrong password").0, 401, "the last free failure");
    let (status, _, head) = login(&center, guesser, "alice", PASSWORD);
    assert_eq!(status, 429, "even the right password waits: {head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    // alice from her own address is not held back by the guesser
    assert_eq!(login(&center, "127.0.0.1", "alice", PASSWORD).0, 303);
    // the wait ends: the guesser may try again (and with the right password, gets in)
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(login(&center, guesser, "alice", PASSWORD).0, 303);

    // A name no user can have (a password typed in the wrong field, an overlong name) is
    // refused before the store, and kept out of the log.
    for name in ["Summer2024!", &"n".repeat(300)] {
        assert_eq!(login(&center, "127.0.0.21", name, "x").0, 401);
        assert!(!center.log_text().contains(name), "{name} logged");
    }
    assert!(center.log_text().contains("refused: not a user name"));
}

#[test]
fn revocation_takes_effect_at_once() {
    let center = Center::start("", None);
    let store = center.store.display().to_string();
    set_password(&center, "alice", PASSWORD);
    // The store holds credential hashes: its owner alone reads it (and its WAL).
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{store}{suffix}");
        if let Ok(metadata) = std::fs::metadata(&path) {
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{path}");
        }
    }
    let alerts = "/api/v1/tenants/acme/alerts";
    assert_eq!(center.get("127.0.0.1", alerts, &center.user_token).0, 200);
    // An offset past any page is the caller's mistake.
    let (status, _, body) =
        center.get("127.0.0.1", &format!("{alerts}?offset=99999999999999999999"), &center.user_token);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) =
        center.get("127.0.0.1", &format!("{alerts}?offset=9223372036854775808"), &center.user_token);
    assert_eq!(status, 400, "{body}");

    // A session ends when the password changes.
    let (_, cookie, _) = login(&center, "127.0.0.1", "alice", PASSWORD);
    let cookie = cookie.unwrap();
    assert_eq!(page(&center, "/ui/t/acme/", &cookie).0, 200);
    set_password(&center, "alice", "another long password");
    let (status, location) = page(&center, "/ui/t/acme/", &cookie);
    assert_eq!((status, location.starts_with("/ui/login")), (303, true), "{location}");

    // A grant taken away, at once.
    let (_, cookie, _) = login(&center, "127.0.0.1", "alice", "another long password");
    let cookie = cookie.unwrap();
    admin(&store, &["user", "revoke", "alice", "--tenant", "acme"]);
    assert_eq!(center.get("127.0.0.1", alerts, &center.user_token).0, 404);
    assert_eq!(page(&center, "/ui/t/acme/", &cookie).0, 404);
    admin(&store, &["user", "grant", "alice", "--tenant", "acme", "--role", "viewer"]);

    // A token revoked by its id, another by its label; the rest keep working.
    let script = admin(&store, &["user", "token", "alice", "--label", "script"]);
    let shown = admin(&store, &["user", "show", "alice"]);
    let id = shown
        .lines()
        .find(|l| l.contains("\tapi\t"))
        .and_then(|l| l.trim().strip_prefix("token "))
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("{shown}"))
        .to_owned();
    admin(&store, &["user", "revoke-token", "alice", "--id", &id]);
    assert_eq!(center.get("127.0.0.1", alerts, &center.user_token).0, 401);
    assert_eq!(center.get("127.0.0.1", alerts, &script).0, 200);
    admin(&store, &["user", "revoke-token", "alice", "--label", "script"]);
    assert_eq!(center.get("127.0.0.1", alerts, &script).0, 401);

    // A sensor's credential removed: its next request is refused.
    let sensor =
        format!("Authorization: Bearer {}\r\nContent-Type: application/json\r\n", center.sensor_token);
    let beat = br#"{"version":"0.1.0"}"#;
    assert_eq!(center.post("127.0.0.1", "/api/v1/sensor/heartbeat", &sensor, beat).0, 204);
    admin(&store, &["sensor", "remove", "--tenant", "acme", "dc1"]);
    assert_eq!(center.post("127.0.0.1", "/api/v1/sensor/heartbeat", &sensor, beat).0, 401);

    // A user removed: its tokens and its session go with it, also when a new user of the
    // same name is made before the old session is used again.
    let token = admin(&store, &["user", "token", "alice"]);
    let (_, cookie, _) = login(&center, "127.0.0.1", "alice", "another long password");
    let cookie = cookie.unwrap();
    assert_eq!(page(&center, "/ui/t/acme/", &cookie).0, 200);
    admin(&store, &["user", "remove", "alice"]);
    admin(&store, &["user", "add", "alice"]);
    admin(&store, &["user", "grant", "alice", "--tenant", "acme", "--role", "viewer"]);
    assert_eq!(center.get("127.0.0.1", alerts, &token).0, 401);
    let (status, location) = page(&center, "/ui/t/acme/", &cookie);
    assert_eq!((status, location.starts_with("/ui/login")), (303, true), "{location}");
}
