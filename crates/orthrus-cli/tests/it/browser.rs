//! The web UI in a real browser: Debian's chromium driven through chromium-driver (WebDriver),
//! against the real `orthrus server` fed by a real `orthrus sensor` replaying lab captures.
//! An analyst signs in with the keyboard, opens the DCSync alert, follows it to the account's
//! profile, closes the alert and the API shows it closed; a user of another tenant gets nothing
//! by URL. Screenshots of the main pages go to `target/ui-screenshots/` (looked at by people).
//!
//! Needs `--features browser` and `chromium` + `chromium-driver` (`.ci/run` installs them).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use serde_json::{Value, json};

use super::server::{Running, TestCenter, admin, start_sensor, wait_for_activities};

const PASSWORD: &str = "correct horse battery staple";

/// Sets `user`'s web UI password through `orthrus admin user password` (read from stdin).
fn set_password(store: &str, user: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
        .args(["admin", "--store", store, "user", "password", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// chromium-driver on a free loopback port, stopped by its PID when dropped.
fn chromedriver() -> (Running, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) is required for the browser tests");
    let running = Running(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    (running, format!("http://127.0.0.1:{port}"))
}

async fn browser(driver: &str) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("acceptInsecureCerts".into(), json!(true));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update"
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(driver)
        .await
        .expect("a chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits (at most 20 s) until the page's URL path starts with `prefix`.
async fn wait_for_path(client: &Client, prefix: &str) -> String {
    let started = Instant::now();
    loop {
        let url = client.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still at {url}, waiting for {prefix}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The link among `selector` whose text contains `text`.
async fn link_with(client: &Client, selector: &str, text: &str) -> fantoccini::elements::Element {
    for link in client.find_all(Locator::Css(selector)).await.unwrap() {
        if link.text().await.unwrap().contains(text) {
            return link;
        }
    }
    panic!("no {selector} link with {text:?} in {}", client.source().await.unwrap());
}

async fn sign_in(client: &Client, base: &str, user: &str) {
    client.goto(&format!("{base}/ui/login")).await.unwrap();
    client.find(Locator::Id("user")).await.unwrap().send_keys(user).await.unwrap();
    let password = client.find(Locator::Id("password")).await.unwrap();
    // Enter submits the form: no mouse needed.
    password.send_keys(&format!("{PASSWORD}{}", char::from(Key::Enter))).await.unwrap();
}

#[test]
fn an_analyst_investigates_and_closes_an_alert_in_chromium() {
    let center = TestCenter::start();
    let store = center.store.display().to_string();
    admin(&store, &["user", "grant", "alice", "--tenant", "acme", "--role", "analyst"]);
    let short = set_password(&store, "alice", "short");
    assert!(!short.status.success(), "a short password is refused");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    assert!(set_password(&store, "alice", PASSWORD).status.success());
    admin(&store, &["tenant", "add", "globex"]);
    admin(&store, &["user", "add", "bob"]);
    admin(&store, &["user", "grant", "bob", "--tenant", "globex", "--role", "viewer"]);
    assert!(set_password(&store, "bob", PASSWORD).status.success());
    admin(&store, &["user", "add", "carol"]);
    admin(&store, &["user", "grant", "carol", "--tenant", "acme", "--role", "admin"]);
    let carol = center.dir.path().join("carol.token");
    std::fs::write(&carol, admin(&store, &["user", "token", "carol"])).unwrap();
    let upload = super::orthrus()
        .args(["directory", "upload", "--directory"])
        .arg(orthrus_testkit::fixture("directory/lab.snapshot.json"))
        .args([
            "--center",
            &format!("https://{}", center.address),
            "--center-fingerprint",
            &center.fingerprint,
        ])
        .arg("--token-file")
        .arg(&carol)
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    assert!(upload.status.success(), "{}", String::from_utf8_lossy(&upload.stderr));

    // A sensor replays an attack sequence into the center, the DC's captures and its audit
    // log: Kerberoasting, then DCSync, then an addition to Domain Admins, all from one address
    // within two minutes.
    let watch = center.dir.path().join("incoming");
    std::fs::create_dir_all(&watch).unwrap();
    let config = center.sensor_config(&format!("watch = \"{}\"\npoll_millis = 200\n", watch.display()));
    let _sensor = start_sensor(&config);
    let mut expected = 0;
    for capture in ["kerberoast", "dcsync", "group_membership_change"] {
        for (file, kind) in [(format!("{capture}.pcap"), "pcap"), (format!("{capture}.audit.jsonl"), "audit")]
        {
            let fixture = orthrus_testkit::fixture(&format!("{kind}/{file}"));
            let staged = center.dir.path().join(&file);
            std::fs::copy(&fixture, &staged).unwrap();
            std::fs::rename(&staged, watch.join(&file)).unwrap();
            expected += if kind == "pcap" {
                orthrus_testkit::lab_activities(capture).len() as u64
            } else {
                orthrus_testkit::log_activities(&fixture).len() as u64
            };
        }
    }
    assert_eq!(wait_for_activities(&center.store, expected), expected);
    let started = Instant::now();
    let (dcsync, listed) = loop {
        let listed = center.get("/api/v1/tenants/acme/alerts");
        let alerts = listed["alerts"].as_array().cloned().unwrap_or_default();
        let found = alerts.iter().find(|a| a["detection"] == "ORT-DRS-001");
        let all_three = ["ORT-KRB-001", "ORT-DRS-001", "ORT-EVT-001"]
            .iter()
            .all(|d| alerts.iter().any(|a| a["detection"] == *d));
        if let (Some(alert), true) = (found, all_three) {
            break (alert.clone(), alerts);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{listed}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // One incident holds the three; each alert names the sensor that saw it.
    let incident = dcsync["incident"].as_str().expect("an incident").to_owned();
    for alert in &listed {
        assert_eq!(alert["incident"], *incident, "{alert}");
        assert_eq!(alert["sensor"], "dc1", "{alert}");
    }
    let id = dcsync["id"].as_str().unwrap().to_owned();
    assert_eq!(dcsync["status"], "open");

    let (_driver, driver_url) = chromedriver();
    let base = format!("https://{}", center.address);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = browser(&driver_url).await;

        // Not signed in: the alert list sends the browser to the login page.
        client.goto(&format!("{base}/ui/t/acme/alerts")).await.unwrap();
        wait_for_path(&client, "/ui/login").await;
        screenshot(&client, "01-login").await;
        client.find(Locator::Id("user")).await.unwrap().send_keys("alice").await.unwrap();
        let password = client.find(Locator::Id("password")).await.unwrap();
        password.send_keys(&format!("{PASSWORD}{}", char::from(Key::Enter))).await.unwrap();
        // Back where alice was going.
        assert_eq!(wait_for_path(&client, "/ui/t/acme/alerts").await, "/ui/t/acme/alerts");
        let count =
            client.wait().for_element(Locator::Id("alert-count")).await.unwrap().text().await.unwrap();
        assert_eq!(count, format!("{} alerts", listed.len()), "{count}");
        screenshot(&client, "02-alerts").await;
        // The first Tab lands on the skip link.
        client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .unwrap();
        let focused = client.active_element().await.unwrap();
        assert_eq!(focused.attr("class").await.unwrap().as_deref(), Some("skip"));

        client.goto(&format!("{base}/ui/t/acme/")).await.unwrap();
        let svg = client.wait().for_element(Locator::Css("svg.chart")).await.unwrap();
        assert_eq!(svg.attr("role").await.unwrap().as_deref(), Some("img"));
        // Entities by name: the member Samba's audit named by DN is the directory's bob.
        let top = client.find(Locator::Id("top-entities")).await.unwrap().text().await.unwrap();
        assert!(top.contains("bob account"), "{top}");
        assert!(!top.to_lowercase().contains("cn=") && !top.contains("ip:"), "{top}");
        screenshot(&client, "03-dashboard").await;

        // Open the DCSync alert from the list.
        client.goto(&format!("{base}/ui/t/acme/alerts")).await.unwrap();
        link_with(&client, "a.alert-link", "DCSync").await.click().await.unwrap();
        wait_for_path(&client, &format!("/ui/t/acme/alerts/{id}")).await;
        let story = client.wait().for_element(Locator::Id("story")).await.unwrap().text().await.unwrap();
        assert_eq!(story, dcsync["description"].as_str().unwrap());
        let page = client.source().await.unwrap();
        assert!(page.contains("member of Domain Admins"), "the sensitive mark and why");
        assert!(page.contains("badge evidence"), "cited activities in the timeline");
        // What DCSync means and what to do, then the other alerts of the same attacker.
        let actions = client.find(Locator::Id("recommended-actions")).await.unwrap().text().await.unwrap();
        assert!(actions.contains("Reset the krbtgt password twice"), "{actions}");
        let related = client.find(Locator::Id("related-alerts")).await.unwrap().text().await.unwrap();
        assert!(related.contains("Kerberoasting") && related.contains("this incident"), "{related}");
        screenshot(&client, "04-alert").await;

        // Its incident: the roast, the DCSync and the addition to Domain Admins, in order;
        // the attacker's address named after no DC, the DC by its name, the actor by account.
        client.find(Locator::Id("alert-incident")).await.unwrap().click().await.unwrap();
        wait_for_path(&client, &format!("/ui/t/acme/incidents/{incident}")).await;
        let story =
            client.wait().for_element(Locator::Id("incident-alerts")).await.unwrap().text().await.unwrap();
        let places = ["Kerberoasting", "DCSync", "sensitive groups"].map(|t| story.find(t));
        assert!(places.iter().all(Option::is_some) && places.is_sorted(), "{story}");
        assert!(story.contains("from DC1 (10.99.0.10)"), "the DC by name: {story}");
        assert!(story.contains("LAB\\da_admin added"), "the actor by account: {story}");
        assert!(!story.contains("DC1 (10.99.0.21)") && !story.contains("S-1-5-21-"), "{story}");
        let entities = client.find(Locator::Id("incident-entities")).await.unwrap().text().await.unwrap();
        assert!(entities.contains("source address: 10.99.0.21"), "{entities}");
        assert!(!entities.contains("DC1 (10.99.0.21)"), "{entities}");
        let stages = client.find(Locator::Id("stages")).await.unwrap().text().await.unwrap();
        let (access, persistence) = (stages.find("Credential Access"), stages.find("Persistence"));
        assert!(access.is_some() && persistence.is_some(), "{stages}");
        screenshot(&client, "04b-incident").await;
        client.back().await.unwrap();
        wait_for_path(&client, &format!("/ui/t/acme/alerts/{id}")).await;

        // Follow it to the account.
        link_with(&client, "a.entity-link", "da_admin").await.click().await.unwrap();
        wait_for_path(&client, "/ui/t/acme/entities/").await;
        let name = client.wait().for_element(Locator::Id("entity-name")).await.unwrap().text().await.unwrap();
        assert_eq!(name, "account:da_admin");
        let why =
            client.wait().for_element(Locator::Id("sensitive-why")).await.unwrap().text().await.unwrap();
        assert_eq!(why, "member of Domain Admins");
        assert!(client.source().await.unwrap().contains(&id), "the profile lists the alert");
        screenshot(&client, "05-account").await;

        // The DC's address: its computer by name, and how name resolution knows it; the
        // attacker's address named after no DC.
        client.goto(&format!("{base}/ui/t/acme/entities/ip:10.99.0.10")).await.unwrap();
        let computer =
            client.wait().for_element(Locator::Id("resolved-computer")).await.unwrap().text().await.unwrap();
        assert!(computer.starts_with("DC1") && computer.contains("the server's own event log"), "{computer}");
        screenshot(&client, "05b-address").await;
        client.goto(&format!("{base}/ui/t/acme/entities/ip:10.99.0.21")).await.unwrap();
        let computer =
            client.wait().for_element(Locator::Id("resolved-computer")).await.unwrap().text().await.unwrap();
        assert!(!computer.contains("DC1"), "{computer}");

        // Back to the alert; close it.
        client.goto(&format!("{base}/ui/t/acme/alerts/{id}")).await.unwrap();
        wait_for_path(&client, &format!("/ui/t/acme/alerts/{id}")).await;
        // Closing asks how the alert is judged, and optionally why.
        let classification = client.find(Locator::Id("classification")).await.unwrap();
        classification.select_by_value("true_positive").await.unwrap();
        client.find(Locator::Id("reason")).await.unwrap().send_keys("no DC at that address").await.unwrap();
        client.find(Locator::Id("close-alert")).await.unwrap().click().await.unwrap();
        let started = Instant::now();
        loop {
            // The form's answer is a redirect: the page may be between documents.
            let status = match client.find(Locator::Id("alert-status")).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if status == "closed" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "status {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.wait().for_element(Locator::Id("reopen-alert")).await.unwrap();

        client.goto(&format!("{base}/ui/t/acme/health")).await.unwrap();
        assert!(client.source().await.unwrap().contains(">dc1<"));
        screenshot(&client, "06-health").await;

        // Sign out; bob, of globex, asks for acme's alert by its URL.
        client.find(Locator::Css("form.who button")).await.unwrap().click().await.unwrap();
        wait_for_path(&client, "/ui/login").await;
        sign_in(&client, &base, "bob").await;
        wait_for_path(&client, "/ui/t/globex/").await;
        client.goto(&format!("{base}/ui/t/acme/alerts/{id}")).await.unwrap();
        let page = client.source().await.unwrap();
        assert!(
            page.contains("404 Not Found") && page.contains("There is no tenant acme for you."),
            "{page}"
        );
        assert!(!page.contains("DCSync") && !page.contains("da_admin"), "{page}");
        screenshot(&client, "07-other-tenant").await;
        client.close().await.unwrap();
    });

    // The API sees what the browser did.
    let alert: Value = center.get(&format!("/api/v1/tenants/acme/alerts/{id}"));
    assert_eq!(alert["status"], "closed");
    let change = &alert["history"][0];
    assert_eq!(
        (&change["author"], &change["classification"], &change["reason"]),
        (&json!("alice"), &json!("true_positive"), &json!("no DC at that address"))
    );
}
