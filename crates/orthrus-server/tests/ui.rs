//! The web UI on the real router (no port, no browser; the browser tests are in orthrus-cli):
//! two tenants fed the same lab captures, users with passwords and different grants. Pages need
//! a session; a login opens one; an analyst follows an alert to its account and closes it;
//! nothing of another tenant is shown or changed by URL; forms without the session's CSRF token
//! change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use orthrus_center::{Center, CenterConfig};
use orthrus_model::{TenantId, Timestamp};
use orthrus_server::{AppState, router};
use orthrus_store::credentials::{hash_password, new_token};
use orthrus_store::{AlertFilter, AlertStatus, Page, Role, SqliteStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn clock() -> Timestamp {
    Timestamp::from_micros(1_772_442_847_412_000)
}

const PASSWORD: &str = "a long enough password";

struct Fixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    store: Arc<dyn Store>,
}

/// acme and globex, each fed the same captures by its own sensor; acme has its directory.
/// alice: analyst in acme and viewer in globex; bob: viewer in globex; dave: no password.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("center.db")).unwrap();
    let mut sensors = Vec::new();
    for id in ["acme", "globex"] {
        store.create_tenant(&TenantId(id.into()), id, clock()).unwrap();
        let (token, hash) = new_token().unwrap();
        store.create_sensor(&TenantId(id.into()), "dc1", &hash, clock()).unwrap();
        sensors.push(token);
    }
    for (name, grants) in [
        ("alice", &[("acme", Role::Analyst), ("globex", Role::Viewer)][..]),
        ("bob", &[("globex", Role::Viewer)][..]),
        ("carol", &[("acme", Role::Admin)][..]),
        ("dave", &[("acme", Role::Viewer)][..]),
    ] {
        store.create_user(name, None, clock()).unwrap();
        for (tenant, role) in grants {
            store.grant(name, &TenantId((*tenant).into()), *role).unwrap();
        }
        if name != "dave" {
            store.set_password(name, &hash_password(PASSWORD).unwrap()).unwrap();
        }
    }
    let store: Arc<dyn Store> = Arc::new(store);
    let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    let app = router(Arc::new(AppState::new(center, store.clone(), clock)));
    let activities: Vec<_> = ["kerberoast", "dcsync", "krb_password_spray"]
        .iter()
        .flat_map(|c| orthrus_testkit::lab_activities(c))
        .collect();
    for token in &sensors {
        for (n, chunk) in activities.chunks(50).enumerate() {
            let body = json!({ "sequence": n + 1, "activities": chunk }).to_string();
            let request = Request::post("/api/v1/sensor/batches")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            assert_eq!(app.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
        }
    }
    let snapshot = std::fs::read(orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap();
    let center_store = store.clone();
    let (token, hash) = new_token().unwrap();
    center_store.add_user_token("carol", &hash, "test", clock()).unwrap();
    let request = Request::post("/api/v1/tenants/acme/directory")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(snapshot))
        .unwrap();
    assert_eq!(app.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
    Fixture { _dir: dir, app, store }
}

struct Answer {
    status: StatusCode,
    location: String,
    set_cookie: String,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = match form {
        Some(form) => request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, location, set_cookie, headers) =
        (response.status(), text(header::LOCATION), text(header::SET_COOKIE), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, location, set_cookie, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// Signs in and returns the `Cookie` header value.
async fn login(app: &axum::Router, user: &str) -> String {
    let answer = send(
        app,
        "POST",
        "/ui/login",
        None,
        Some(&format!("user={user}&password={}", PASSWORD.replace(' ', "+"))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    answer.set_cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token a page's forms carry.
fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + 19;
    page[at..at + 64].to_owned()
}

fn first_alert(store: &dyn Store, tenant: &str, detection: &str) -> orthrus_store::AlertRecord {
    let filter = AlertFilter { detection: Some(detection.into()), ..AlertFilter::default() };
    store.alerts(&TenantId(tenant.into()), &filter, Page::default()).unwrap().alerts.remove(0)
}

#[tokio::test]
async fn pages_need_a_session_and_a_password_login_opens_one() {
    let f = fixture().await;
    // No session: to the login page, coming back after.
    let answer = send(&f.app, "GET", "/ui/t/acme/alerts?status=open", None, None).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location, "/ui/login?next=%2Fui%2Ft%2Facme%2Falerts%3Fstatus%3Dopen");
    let page = send(&f.app, "GET", &answer.location, None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"<input type="hidden" name="next" value="/ui/t/acme/alerts?status=open">"#));
    assert!(page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");

    // Wrong password, unknown user, a user without a password: refused alike.
    for form in [
        "user=alice&password=wrong+password+here",
        "user=mallory&password=a+long+enough+password",
        "user=dave&password=a+long+enough+password",
    ] {
        let answer = send(&f.app, "POST", "/ui/login", None, Some(form)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{form}");
        assert!(answer.set_cookie.is_empty());
        assert!(answer.body.contains("The user name or the password is wrong."));
    }
    // The right one: a session cookie the script cannot read, back where the user was going.
    let form = "user=alice&password=a+long+enough+password&next=%2Fui%2Ft%2Facme%2Falerts%3Fstatus%3Dopen";
    let answer = send(&f.app, "POST", "/ui/login", None, Some(form)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location, "/ui/t/acme/alerts?status=open");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(answer.set_cookie.contains(flag), "{}", answer.set_cookie);
    }
    let cookie = answer.set_cookie.split(';').next().unwrap().to_owned();
    let page = send(&f.app, "GET", "/ui/t/acme/alerts?status=open", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("DCSync"), "{}", page.body);
    // `next` never leads off the UI.
    let form = "user=alice&password=a+long+enough+password&next=https%3A%2F%2Fevil.example%2F";
    assert_eq!(send(&f.app, "POST", "/ui/login", None, Some(form)).await.location, "/ui/");
    // Home goes to the first granted tenant.
    assert_eq!(send(&f.app, "GET", "/ui/", Some(&cookie), None).await.location, "/ui/t/acme/");

    // Sign-out needs the session's CSRF token, then ends the session.
    let token = csrf(&page.body);
    assert_eq!(
        send(&f.app, "POST", "/ui/logout", Some(&cookie), Some("csrf=forged")).await.status,
        StatusCode::FORBIDDEN
    );
    let out = send(&f.app, "POST", "/ui/logout", Some(&cookie), Some(&format!("csrf={token}"))).await;
    assert_eq!(out.location, "/ui/login");
    assert!(out.set_cookie.contains("Max-Age=0"));
    assert_eq!(send(&f.app, "GET", "/ui/t/acme/", Some(&cookie), None).await.status, StatusCode::SEE_OTHER);

    // Five failures in a row lock the name for a minute, even for the right password.
    for _ in 0..5 {
        send(&f.app, "POST", "/ui/login", None, Some("user=bob&password=not+the+password")).await;
    }
    let locked =
        send(&f.app, "POST", "/ui/login", None, Some("user=bob&password=a+long+enough+password")).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_analyst_follows_an_alert_to_the_account_and_closes_it() {
    let f = fixture().await;
    let cookie = login(&f.app, "alice").await;
    let dcsync = first_alert(f.store.as_ref(), "acme", "ORT-DRS-001");

    // The dashboard counts the open alerts and charts them.
    let board = send(&f.app, "GET", "/ui/t/acme/", Some(&cookie), None).await;
    assert_eq!(board.status, StatusCode::OK);
    let open = f
        .store
        .alerts(
            &TenantId("acme".into()),
            &AlertFilter { status: Some(AlertStatus::Open), ..AlertFilter::default() },
            Page::default(),
        )
        .unwrap()
        .total;
    assert!(open >= 3, "{open}");
    assert!(board.body.contains(&format!(r#"<span class="number">{open}</span> open"#)), "{}", board.body);
    assert!(board.body.contains("<svg class=\"chart\""));
    assert!(board.body.contains("detection=ORT-DRS-001"));
    // The tenant switcher offers both of alice's tenants.
    assert!(board.body.contains(r#"<option value="acme" selected>acme</option>"#));
    assert!(board.body.contains(r#"<option value="globex">globex</option>"#));

    // The list, filtered by detection, links the alert.
    let list = send(
        &f.app,
        "GET",
        "/ui/t/acme/alerts?detection=ORT-DRS-001&severity=&since=2000-01-01",
        Some(&cookie),
        None,
    )
    .await;
    let href = format!("/ui/t/acme/alerts/{}", dcsync.id);
    assert!(list.body.contains(&href), "{}", list.body);
    assert!(list.body.contains(">1 alert<"), "{}", list.body);
    let none =
        send(&f.app, "GET", "/ui/t/acme/alerts?detection=ORT-DRS-001&until=2000-01-01", Some(&cookie), None)
            .await;
    assert!(none.body.contains("0 alerts") && none.body.contains("No alert matches."));
    let bad = send(&f.app, "GET", "/ui/t/acme/alerts?since=yesterday", Some(&cookie), None).await;
    assert!(bad.body.contains("is not a date"), "{}", bad.body);

    // The alert page: the story, the sensitive account and why, evidence, the timeline.
    let page = send(&f.app, "GET", &href, Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    let story = dcsync.alert["description"].as_str().unwrap();
    assert!(page.body.contains(&askama_escape(story)), "{story}");
    assert!(page.body.contains("member of Domain Admins"));
    assert!(page.body.contains("T1003.006"));
    assert!(
        page.body.contains(r#"<span class="badge evidence">evidence</span>"#),
        "a cited activity in the timeline"
    );
    assert!(page.body.contains("rpc_called"));
    // The 26 GetNCChanges calls are one row of the timeline, the calls themselves one click
    // away; each call's request and answer are one evidence row.
    assert!(
        page.body.contains("<strong>26×</strong> <code>rpc_called</code> IDL_DRSGetNCChanges"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<summary>The 26 activities</summary>"));
    let evidence_rows = page.body.split(r#"id="evidence-heading""#).nth(1).unwrap_or_default();
    assert!(evidence_rows.contains("frame 67, "), "request and answer on one row: {evidence_rows}");
    let profile_href = "/ui/t/acme/entities/account:da_admin";
    assert!(page.body.contains(profile_href), "{}", page.body);
    // What the detection means and what to do, from its metadata, after the story.
    let guidance = page.body.split(r#"id="guidance""#).nth(1).expect("the guidance section");
    assert!(page.body.find(r#"id="story""#) < page.body.find(r#"id="guidance""#));
    assert!(guidance.contains("the DCSync technique"), "{guidance}");
    assert!(guidance.contains("<li>Reset the krbtgt password twice"), "{guidance}");
    // Related alerts: the Kerberoasting and the spray from the same address, this alert not.
    let related = page.body.split(r#"id="related-alerts""#).nth(1).expect("related alerts");
    let related = related.split("</table>").next().unwrap_or_default();
    let roast = first_alert(f.store.as_ref(), "acme", "ORT-KRB-001");
    assert!(related.contains(&format!("/ui/t/acme/alerts/{}", roast.id)), "{related}");
    assert!(related.contains("ip 10.99.0.21"), "{related}");
    assert!(!related.contains(&href), "{related}");

    // The evidence as JSON.
    let evidence = send(&f.app, "GET", &format!("{href}/evidence.json"), Some(&cookie), None).await;
    assert!(evidence.headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    let evidence: Value = serde_json::from_str(&evidence.body).unwrap();
    assert_eq!(evidence["alert"], dcsync.id.as_str());
    assert!(evidence["evidence"][0]["frame"].as_u64().is_some(), "{evidence}");

    // The account's profile: directory, sensitivity, alerts, where it came from.
    let profile = send(&f.app, "GET", profile_href, Some(&cookie), None).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("LAB\\da_admin"));
    assert!(profile.body.contains("member of Domain Admins"));
    assert!(profile.body.contains(&href));
    assert!(profile.body.contains("Logged on from"));
    // The directory's attributes decoded, and its groups.
    assert!(profile.body.contains("<h1>LAB\\da_admin</h1>"), "the heading names it: {}", profile.body);
    assert!(profile.body.contains("<dt>Account</dt><dd>enabled</dd>"), "{}", profile.body);
    assert!(profile.body.contains("<dt>Kerberos encryption types</dt>"), "{}", profile.body);
    let groups = profile.body.split(r#"<dd id="member-of">"#).nth(1).unwrap_or_default();
    assert!(groups.split("</dd>").next().unwrap_or_default().contains("Domain Admins"), "{}", profile.body);
    // An address's page: the accounts used from it.
    let address = send(&f.app, "GET", "/ui/t/acme/entities/ip:10.99.0.21", Some(&cookie), None).await;
    assert!(address.body.contains("<h1>10.99.0.21</h1>"), "{}", address.body);
    let used = address.body.split(r#"id="accounts-used""#).nth(1).unwrap_or_default();
    assert!(used.contains("da_admin"), "{}", address.body);
    // The part of a page between a marker and the end it names.
    let between = |body: &str, start: &str, end: &str| {
        body.split(start).nth(1).unwrap_or_default().split(end).next().unwrap_or_default().to_owned()
    };
    let services = |body: &str| between(body, r#"id="services-heading""#, "</section>");
    assert!(services(&address.body).contains("<code>MSSQLSvc/sql01.lab.test</code>"), "{}", address.body);
    // Its computer as name resolution knows it: nothing in these captures names the
    // attacker's host, and a wrong name would be worse than none.
    let resolved = |body: &str| between(body, r#"id="resolved-computer">"#, "</dd>");
    assert!(resolved(&address.body).contains("not resolved"), "{}", address.body);
    // The DC's address is named from the wire: its NTLM challenge gave the name the client
    // asked for.
    let dc = send(&f.app, "GET", "/ui/t/acme/entities/ip:10.99.0.10", Some(&cookie), None).await;
    assert!(dc.body.contains("<h1>10.99.0.10 (DC1)</h1>"), "{}", dc.body);
    // An address is no directory object: its computer's page has the directory's facts.
    assert!(!dc.body.contains("<dt>Directory name</dt>") && profile.body.contains("<dt>Directory name</dt>"));
    let dc_name = resolved(&dc.body);
    assert!(dc_name.contains(r#"<a href="/ui/t/acme/entities/computer:dc1">DC1</a>"#), "{dc_name}");
    assert!(dc_name.contains("its NTLM challenge, for the name the client asked for"), "{dc_name}");
    // Accounts used from the DC's address: none (they were used against it); who reached it.
    assert!(!dc.body.contains(r#"id="accounts-used""#), "{}", dc.body);
    assert!(dc.body.contains("Reached from"));
    // Nor the services: the attacker asked the DC for tickets to them.
    assert!(services(&dc.body).contains("Nothing seen."), "{}", dc.body);

    // Closing needs the session's CSRF token.
    let token = csrf(&page.body);
    let forged =
        send(&f.app, "POST", &format!("{href}/status"), Some(&cookie), Some("csrf=0000&status=closed")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(f.store.as_ref(), "acme", &dcsync.id), AlertStatus::Open);
    // The closing form asks for a classification; without one nothing changes.
    assert!(page.body.contains(r#"<select id="classification" name="classification" required>"#));
    let unclassified = send(
        &f.app,
        "POST",
        &format!("{href}/status"),
        Some(&cookie),
        Some(&format!("csrf={token}&status=closed&classification=&reason=")),
    )
    .await;
    assert_eq!(unclassified.status, StatusCode::BAD_REQUEST);
    assert!(unclassified.body.contains("needs a classification"), "{}", unclassified.body);
    assert_eq!(status_of(f.store.as_ref(), "acme", &dcsync.id), AlertStatus::Open);
    let closed = send(
        &f.app,
        "POST",
        &format!("{href}/status"),
        Some(&cookie),
        Some(&format!(
            "csrf={token}&status=closed&classification=true_positive&reason=no+backup+tool+runs+there"
        )),
    )
    .await;
    assert_eq!((closed.status, closed.location.as_str()), (StatusCode::SEE_OTHER, href.as_str()));
    assert_eq!(status_of(f.store.as_ref(), "acme", &dcsync.id), AlertStatus::Closed);
    let history = f.store.alert(&TenantId("acme".into()), &dcsync.id).unwrap().unwrap().history;
    assert_eq!(
        (history[0].author.as_str(), history[0].classification, history[0].reason.as_str()),
        ("alice", Some(orthrus_store::Classification::TruePositive), "no backup tool runs there")
    );
    let comment = send(
        &f.app,
        "POST",
        &format!("{href}/comments"),
        Some(&cookie),
        Some(&format!("csrf={token}&text=replication+by+a+backup+tool%3F+no.")),
    )
    .await;
    assert_eq!(comment.status, StatusCode::SEE_OTHER);
    let page = send(&f.app, "GET", &href, Some(&cookie), None).await;
    assert!(page.body.contains(r#"id="alert-status">closed<"#));
    assert!(page.body.contains("replication by a backup tool? no."));
    assert!(page.body.contains(r#"id="reopen-alert""#));
    assert!(page.body.contains("closed as true positive: no backup tool runs there"), "{}", page.body);

    // In globex alice is a viewer: she reads but does not act.
    let theirs = first_alert(f.store.as_ref(), "globex", "ORT-DRS-001");
    let href = format!("/ui/t/globex/alerts/{}", theirs.id);
    let page = send(&f.app, "GET", &href, Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(r#"id="close-alert""#));
    let refused = send(
        &f.app,
        "POST",
        &format!("{href}/status"),
        Some(&cookie),
        Some(&format!("csrf={token}&status=closed")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Health: the tenant's sensor.
    let health = send(&f.app, "GET", "/ui/t/acme/health", Some(&cookie), None).await;
    assert!(health.body.contains(">dc1<"), "{}", health.body);
}

#[tokio::test]
async fn an_incident_page_tells_one_attackers_alerts_in_order() {
    let f = fixture().await;
    let cookie = login(&f.app, "alice").await;
    let acme = TenantId("acme".into());
    let alerts = f.store.alerts(&acme, &AlertFilter::default(), Page::default()).unwrap();
    let incident = alerts.alerts[0].alert["incident"].as_str().expect("an incident").to_owned();
    assert!(alerts.alerts.iter().all(|a| a.alert["incident"] == *incident), "one attacker, one incident");

    // The dashboard lists it, and the attacker's address first among entities.
    let board = send(&f.app, "GET", "/ui/t/acme/", Some(&cookie), None).await;
    assert!(board.body.contains(&format!("/ui/t/acme/incidents/{incident}")), "{}", board.body);
    let top = board.body.split(r#"id="top-entities">"#).nth(1).unwrap_or_default();
    let first = top.split("</a>").next().unwrap_or_default().rsplit('>').next().unwrap_or_default();
    assert_eq!(first, "10.99.0.21", "named, not keyed: {}", board.body);
    assert!(top.contains(r#"<a href="/ui/t/acme/entities/ip:10.99.0.21">10.99.0.21</a> <span class="muted">address · 3 open alerts"#), "{top}");
    // The alert list names each alert's source and account.
    let alerts_page = send(&f.app, "GET", "/ui/t/acme/alerts", Some(&cookie), None).await;
    assert!(alerts_page.body.contains(r#"<td class="nowrap">10.99.0.21</td>"#), "{}", alerts_page.body);
    assert!(alerts_page.body.contains(r#"<th scope="col">First seen</th>"#));
    let list = send(&f.app, "GET", "/ui/t/acme/incidents", Some(&cookie), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(">1 incident<"), "{}", list.body);
    let href = format!("/ui/t/acme/incidents/{incident}");
    assert!(list.body.contains(&href), "{}", list.body);

    let page = send(&f.app, "GET", &href, Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    // The story in order of first activity: Kerberoasting (07:17:08) before DCSync (07:17:51).
    let roast = page.body.find("Suspected Kerberoasting").expect("the roast");
    let dcsync = page.body.find("Suspected DCSync").expect("the DCSync");
    assert!(roast < dcsync, "{}", page.body);
    assert!(page.body.contains("<strong>Credential Access</strong>"), "{}", page.body);
    assert!(
        page.body.contains(r#"source address: <a href="/ui/t/acme/entities/ip:10.99.0.21">10.99.0.21</a>"#),
        "the attacker's address is an entity: {}",
        page.body
    );
    // Each alert's page links back to the incident.
    let dcsync = first_alert(f.store.as_ref(), "acme", "ORT-DRS-001");
    let alert = send(&f.app, "GET", &format!("/ui/t/acme/alerts/{}", dcsync.id), Some(&cookie), None).await;
    assert!(alert.body.contains(&format!(r#"id="alert-incident" href="{href}""#)), "{}", alert.body);
    // The alert list shows the incident's alerts by its key.
    let by_incident =
        send(&f.app, "GET", &format!("/ui/t/acme/alerts?entity=incident:{incident}"), Some(&cookie), None)
            .await;
    assert!(
        by_incident.body.contains(&format!(
            ">{}<",
            if alerts.total == 1 { "1 alert".to_owned() } else { format!("{} alerts", alerts.total) }
        )),
        "{}",
        by_incident.body
    );
    // Another tenant's incident does not exist here.
    let globex = f.store.incidents(&TenantId("globex".into()), Page::default()).unwrap();
    let other = &globex.incidents[0].id;
    assert_ne!(other, &incident, "ids are per tenant's alerts");
    let missing = send(&f.app, "GET", &format!("/ui/t/acme/incidents/{other}"), Some(&cookie), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenants_pages_do_not_exist_for_a_user() {
    let f = fixture().await;
    let cookie = login(&f.app, "bob").await;
    let acme = first_alert(f.store.as_ref(), "acme", "ORT-DRS-001");
    let href = format!("/ui/t/acme/alerts/{}", acme.id);
    for uri in [
        "/ui/t/acme/".to_owned(),
        "/ui/t/acme/alerts".to_owned(),
        href.clone(),
        format!("{href}/evidence.json"),
        "/ui/t/acme/entities/account:da_admin".to_owned(),
        "/ui/t/acme/health".to_owned(),
    ] {
        let answer = send(&f.app, "GET", &uri, Some(&cookie), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(!answer.body.contains(&acme.id) && !answer.body.contains("da_admin"), "{uri}");
    }
    // Bob's own page gives him a CSRF token; it opens nothing in acme.
    let own = send(&f.app, "GET", "/ui/t/globex/alerts", Some(&cookie), None).await;
    let token = csrf(&own.body);
    let answer = send(
        &f.app,
        "POST",
        &format!("{href}/status"),
        Some(&cookie),
        Some(&format!("csrf={token}&status=closed")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(status_of(f.store.as_ref(), "acme", &acme.id), AlertStatus::Open);
}

fn status_of(store: &dyn Store, tenant: &str, id: &str) -> AlertStatus {
    store.alert(&TenantId(tenant.into()), id).unwrap().unwrap().status
}

/// What askama's HTML escaping makes of a text.
fn askama_escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
