//! The REST API on the real router (no port): two tenants fed the same lab captures (the same
//! account names, the same detections), three users with different grants. Nothing answers
//! without a token; a tenant's data is never visible with another tenant's grant; roles gate
//! changes; what the API changes, the store holds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use orthrus_center::{Center, CenterConfig};
use orthrus_model::{Activity, TenantId, Timestamp};
use orthrus_server::api::{ROUTES, openapi_document};
use orthrus_server::{AppState, router};
use orthrus_store::credentials::new_token;
use orthrus_store::{Role, SqliteStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn clock() -> Timestamp {
    Timestamp::from_micros(1_772_442_847_412_000)
}

struct Fixture {
    _dir: tempfile::TempDir,
    app: axum::Router,
    store: Arc<dyn Store>,
    sensor: [String; 2],
    alice: String, // analyst in acme
    bob: String,   // viewer in globex
    carol: String, // admin in acme
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("center.db")).unwrap();
    let mut sensor = [String::new(), String::new()];
    for (n, id) in ["acme", "globex"].iter().enumerate() {
        store.create_tenant(&TenantId((*id).into()), id, clock()).unwrap();
        let (token, hash) = new_token().unwrap();
        store.create_sensor(&TenantId((*id).into()), "dc1", &hash, clock()).unwrap();
        sensor[n] = token;
    }
    let user = |name: &str, tenant: &str, role: Role| {
        store.create_user(name, None, clock()).unwrap();
        store.grant(name, &TenantId(tenant.into()), role).unwrap();
        let (token, hash) = new_token().unwrap();
        store.add_user_token(name, &hash, "test", clock()).unwrap();
        token
    };
    let alice = user("alice", "acme", Role::Analyst);
    let bob = user("bob", "globex", Role::Viewer);
    let carol = user("carol", "acme", Role::Admin);
    let store: Arc<dyn Store> = Arc::new(store);
    let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    let state = Arc::new(AppState::new(center, store.clone(), clock));
    Fixture { _dir: dir, app: router(state), store, sensor, alice, bob, carol }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

fn lab(captures: &[&str]) -> Vec<Activity> {
    captures.iter().flat_map(|c| orthrus_testkit::lab_activities(c)).collect()
}

/// Both sensors post the same captures in batches of 30.
async fn feed(f: &Fixture) {
    let activities = lab(&["kerberoast", "dcsync", "krb_password_spray"]);
    for token in &f.sensor {
        for (n, chunk) in activities.chunks(30).enumerate() {
            let (status, body) = call(
                &f.app,
                "POST",
                "/api/v1/sensor/batches",
                Some(token),
                Some(json!({ "sequence": n + 1, "activities": chunk })),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["duplicate"], false);
        }
    }
}

#[tokio::test]
async fn sensors_post_batches_once_and_only_with_their_token() {
    let f = fixture();
    feed(&f).await;
    let batch = json!({ "sequence": 1, "activities": lab(&["kerberoast"])[..2] });
    let (status, body) =
        call(&f.app, "POST", "/api/v1/sensor/batches", Some(&f.sensor[0]), Some(batch.clone())).await;
    assert_eq!((status, &body["duplicate"], &body["stored"]), (StatusCode::OK, &json!(true), &json!(0)));
    // A user's token is no sensor's; no token, no entry.
    assert_eq!(
        call(&f.app, "POST", "/api/v1/sensor/batches", Some(&f.alice), Some(batch.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&f.app, "POST", "/api/v1/sensor/batches", None, Some(batch)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let beat = json!({ "version": "0.1.0", "packets": 10 });
    assert_eq!(
        call(&f.app, "POST", "/api/v1/sensor/heartbeat", Some(&f.sensor[1]), Some(beat)).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, sensors) = call(&f.app, "GET", "/api/v1/tenants/globex/sensors", Some(&f.bob), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sensors["sensors"][0]["status"]["packets"], 10);
}

/// A sensor's body as raw bytes with a Content-Encoding.
async fn post_encoded(f: &Fixture, encoding: &str, body: Vec<u8>) -> (StatusCode, String) {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/sensor/batches")
        .header("authorization", format!("Bearer {}", f.sensor[0]))
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(Body::from(body))
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn sensor_bodies_may_come_zstd_compressed_and_hostile_ones_are_refused() {
    let f = fixture();
    let activities = lab(&["dcsync"]);
    let json = json!({ "sequence": 1, "activities": activities }).to_string();
    let compressed = zstd::bulk::compress(json.as_bytes(), 3).unwrap();
    assert!(compressed.len() * 4 < json.len(), "a batch shrinks");
    let (status, body) = post_encoded(&f, "zstd", compressed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&format!("\"stored\":{}", activities.len())), "{body}");
    let (status, alerts) = call(&f.app, "GET", "/api/v1/tenants/acme/alerts", Some(&f.alice), None).await;
    assert_eq!((status, &alerts["alerts"][0]["detection"]), (StatusCode::OK, &json!("ORT-DRS-001")));

    // Not zstd at all, an encoding the center does not speak, and a bomb: refused, nothing kept.
    let (status, body) = post_encoded(&f, "zstd", b"not zstd".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post_encoded(&f, "br", json.clone().into_bytes()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let zeros = vec![b' '; (orthrus_server::body::MAX_BATCH_BYTES + 1) as usize];
    let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
    assert!(bomb.len() < 1 << 20);
    let (status, body) = post_encoded(&f, "zstd", bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(f.store.activity_count(&TenantId("acme".into())).unwrap(), activities.len() as u64);
}

#[tokio::test]
async fn no_route_answers_without_a_valid_token() {
    let f = fixture();
    for (method, path, who, _) in ROUTES {
        if *who == "anyone" {
            continue;
        }
        let uri = path.replace("{tenant}", "acme").replace("{id}", "1").replace("{entity}", "account:bob");
        for token in [None, Some("ort_forged"), Some("")] {
            let (status, body) = call(&f.app, &method.to_uppercase(), &uri, token, Some(json!({}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with {token:?}: {body}");
        }
    }
    let (status, document) = call(&f.app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document, openapi_document());
}

#[tokio::test]
async fn a_tenants_data_is_never_seen_with_another_tenants_grant() {
    let f = fixture();
    feed(&f).await;
    let (_, acme) = call(&f.app, "GET", "/api/v1/tenants/acme/alerts", Some(&f.alice), None).await;
    let (_, globex) = call(&f.app, "GET", "/api/v1/tenants/globex/alerts", Some(&f.bob), None).await;
    assert_eq!(acme["total"], 3);
    assert_eq!(globex["total"], 3);
    assert!(acme["alerts"].as_array().unwrap().iter().all(|a| a["tenant"] == "acme"));
    assert!(globex["alerts"].as_array().unwrap().iter().all(|a| a["tenant"] == "globex"));
    let acme_id = acme["alerts"][0]["id"].as_str().unwrap().to_owned();
    let globex_id = globex["alerts"][0]["id"].as_str().unwrap().to_owned();

    // Alice (acme) asks for globex's things, by every route: each answers as if globex did
    // not exist.
    for (method, path, _, _) in ROUTES.iter().filter(|r| r.1.contains("{tenant}")) {
        for id in [&acme_id, &globex_id] {
            let uri =
                path.replace("{tenant}", "globex").replace("{id}", id).replace("{entity}", "account:bob");
            let body = match *method {
                "patch" => Some(json!({ "status": "closed", "classification": "true_positive" })),
                "post" => Some(
                    json!({ "text": "x", "detection": "global", "kind": "address", "value": "10.0.0.1" }),
                ),
                _ => None,
            };
            let (status, answer) = call(&f.app, &method.to_uppercase(), &uri, Some(&f.alice), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {answer}");
            assert!(!answer.to_string().contains("10.99.0.21"), "{answer}");
        }
    }
    // Nor does acme's alert id work inside globex for bob.
    assert_ne!(acme_id, globex_id, "alert ids are per tenant");
    let (status, _) =
        call(&f.app, "GET", &format!("/api/v1/tenants/globex/alerts/{acme_id}"), Some(&f.bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing globex holds changed.
    let (_, after) =
        call(&f.app, "GET", "/api/v1/tenants/globex/alerts?status=open", Some(&f.bob), None).await;
    assert_eq!(after["total"], 3);
    assert!(f.store.exclusions(&TenantId("globex".into())).unwrap().is_empty());
    let (_, tenants) = call(&f.app, "GET", "/api/v1/tenants", Some(&f.alice), None).await;
    assert_eq!(tenants["tenants"], json!([{ "tenant": "acme", "role": "analyst" }]));
}

#[tokio::test]
async fn roles_gate_changes_and_the_store_keeps_them() {
    let f = fixture();
    feed(&f).await;
    let (_, acme) =
        call(&f.app, "GET", "/api/v1/tenants/acme/alerts?detection=ORT-DRS-001", Some(&f.alice), None).await;
    assert_eq!(acme["total"], 1);
    let id = acme["alerts"][0]["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/tenants/acme/alerts/{id}");
    // Closing needs a classification; the reason is optional.
    let (status, refused) =
        call(&f.app, "PATCH", &uri, Some(&f.alice), Some(json!({ "status": "closed" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("needs a classification"), "{refused}");
    let closing =
        json!({ "status": "closed", "classification": "benign_true_positive", "reason": "a new DC" });
    let (status, closed) = call(&f.app, "PATCH", &uri, Some(&f.alice), Some(closing)).await;
    assert_eq!((status, &closed["status"]), (StatusCode::OK, &json!("closed")));
    let change = &closed["history"][0];
    assert_eq!(
        (&change["author"], &change["status"], &change["classification"], &change["reason"]),
        (&json!("alice"), &json!("closed"), &json!("benign_true_positive"), &json!("a new DC"))
    );
    assert!(change["time"].is_string(), "{change}");
    let comment = json!({ "text": "replication by the new DC, confirmed with the AD team" });
    assert_eq!(
        call(&f.app, "POST", &format!("{uri}/comments"), Some(&f.alice), Some(comment)).await.0,
        StatusCode::CREATED
    );
    let (_, shown) = call(&f.app, "GET", &uri, Some(&f.carol), None).await;
    assert_eq!(shown["status"], "closed");
    // One alert carries its detection's guidance; list rows do not repeat it.
    let guidance = &shown["guidance"];
    assert!(guidance["meaning"].as_str().unwrap().contains("IDL_DRSGetNCChanges"), "{guidance}");
    assert!(guidance["actions"].to_string().contains("krbtgt password twice"), "{guidance}");
    assert!(acme["alerts"][0].get("guidance").is_none());
    assert_eq!(shown["comments"][0]["author"], "alice");
    let stored = f.store.alert(&TenantId("acme".into()), &id).unwrap().unwrap();
    assert_eq!(stored.status, orthrus_store::AlertStatus::Closed);

    // A viewer reads but changes nothing; exclusions are the admin's.
    let (_, globex) = call(&f.app, "GET", "/api/v1/tenants/globex/alerts", Some(&f.bob), None).await;
    let globex_alert =
        format!("/api/v1/tenants/globex/alerts/{}", globex["alerts"][0]["id"].as_str().unwrap());
    assert_eq!(
        call(&f.app, "PATCH", &globex_alert, Some(&f.bob), Some(json!({ "status": "suppressed" }))).await.0,
        StatusCode::FORBIDDEN
    );
    let exclusion =
        json!({ "detection": "ORT-KRB-001", "kind": "address", "value": "10.99.0.21", "reason": "pentest" });
    let exclusions = "/api/v1/tenants/acme/exclusions";
    assert_eq!(
        call(&f.app, "POST", exclusions, Some(&f.alice), Some(exclusion.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, added) = call(&f.app, "POST", exclusions, Some(&f.carol), Some(exclusion)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let bad = json!({ "detection": "ORT-NOPE-1", "kind": "address", "value": "10.0.0.1" });
    assert_eq!(call(&f.app, "POST", exclusions, Some(&f.carol), Some(bad)).await.0, StatusCode::BAD_REQUEST);
    let not_an_address = json!({ "detection": "global", "kind": "address", "value": "scanner01" });
    let (status, said) = call(&f.app, "POST", exclusions, Some(&f.carol), Some(not_an_address)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{said}");
    let (_, listed) = call(&f.app, "GET", exclusions, Some(&f.alice), None).await;
    assert_eq!(listed["exclusions"][0]["value"], "10.99.0.21");
    let removal = format!("{exclusions}/{}", added["id"]);
    assert_eq!(call(&f.app, "DELETE", &removal, Some(&f.carol), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&f.app, "DELETE", &removal, Some(&f.carol), None).await.0, StatusCode::NOT_FOUND);

    // The roaster's timeline, by entity key.
    let (status, timeline) = call(
        &f.app,
        "GET",
        "/api/v1/tenants/acme/entities/account:bob/timeline?limit=500",
        Some(&f.alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let activities = timeline["activities"].as_array().unwrap();
    assert!(!activities.is_empty() && activities.iter().all(|a| a["tenant"] == "acme"));
}

#[tokio::test]
async fn metrics_count_the_intake_for_users_only_and_name_no_tenant() {
    let f = fixture();
    feed(&f).await;
    let refused = json!({ "sequence": 99, "activities": [] });
    call(&f.app, "POST", "/api/v1/sensor/batches", Some("ort_forged"), Some(refused)).await;
    assert_eq!(call(&f.app, "GET", "/metrics", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&f.app, "GET", "/metrics", Some(&f.sensor[0]), None).await.0, StatusCode::UNAUTHORIZED);
    let (status, text) = call(&f.app, "GET", "/metrics", Some(&f.bob), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    let value = |name: &str| -> u64 {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let per_sensor = lab(&["kerberoast", "dcsync", "krb_password_spray"]).len() as u64;
    assert_eq!(value("orthrus_activities_total"), 2 * per_sensor);
    assert_eq!(value("orthrus_batches_total"), 2 * per_sensor.div_ceil(30));
    assert_eq!(value("orthrus_duplicate_batches_total"), 0);
    assert_eq!(value("orthrus_refused_requests_total"), 1);
    assert_eq!((value("orthrus_sensors"), value("orthrus_tenants")), (2, 2));
    assert!(value("orthrus_alert_changes_total") >= 6, "{text}");
    assert!(!text.contains("acme") && !text.contains("globex"), "{text}");
}

#[tokio::test]
async fn a_directory_upload_enriches_the_tenants_alerts_and_entity_profiles() {
    let f = fixture();
    feed(&f).await;
    let snapshot: Value = serde_json::from_slice(
        &std::fs::read(orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap(),
    )
    .unwrap();
    let url = "/api/v1/tenants/acme/directory";
    // Only an admin of the tenant uploads; another tenant's user does not see it exists.
    assert_eq!(
        call(&f.app, "POST", url, Some(&f.alice), Some(snapshot.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&f.app, "POST", url, Some(&f.bob), Some(snapshot.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    let mut wrong = snapshot.clone();
    wrong["version"] = json!(99);
    assert_eq!(call(&f.app, "POST", url, Some(&f.carol), Some(wrong)).await.0, StatusCode::BAD_REQUEST);
    let (status, body) = call(&f.app, "POST", url, Some(&f.carol), Some(snapshot)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["objects"].as_u64().unwrap() > 10, "{body}");
    let (_, summary) = call(&f.app, "GET", url, Some(&f.alice), None).await;
    assert_eq!(summary["domains"][0]["dns_name"], "lab.test");
    assert_eq!(summary["updated"], json!(clock()));

    // The DCSync alert, rebuilt with the directory, names da_admin as sensitive and why.
    let (_, listed) =
        call(&f.app, "GET", "/api/v1/tenants/acme/alerts?detection=ORT-DRS-001", Some(&f.alice), None).await;
    let source = &listed["alerts"][0]["entities"][0];
    assert_eq!(
        (&source["sensitive"], &source["sensitive_reason"]),
        (&json!(true), &json!("member of Domain Admins"))
    );
    // globex, fed the same captures without a directory, keeps its alert unenriched.
    let (_, theirs) =
        call(&f.app, "GET", "/api/v1/tenants/globex/alerts?detection=ORT-DRS-001", Some(&f.bob), None).await;
    assert_eq!(theirs["alerts"][0]["entities"][0]["sensitive"], false);

    // The profile: directory attributes, sensitivity, alerts, recent activity.
    let (status, profile) =
        call(&f.app, "GET", "/api/v1/tenants/acme/entities/account:da_admin", Some(&f.alice), None).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["directory"]["qualified_name"], "LAB\\da_admin");
    assert_eq!(profile["directory"]["object"]["sam_account_name"], "da_admin");
    assert_eq!(profile["sensitive"], "member of Domain Admins");
    assert_eq!(profile["honeytoken"], false);
    assert!(profile["alerts"]["total"].as_u64().unwrap() >= 1, "{profile}");
    assert!(!profile["recent_activities"].as_array().unwrap().is_empty());
    // A group lists its size, not its members.
    let (_, group) =
        call(&f.app, "GET", "/api/v1/tenants/acme/entities/account:Domain%20Admins", Some(&f.alice), None)
            .await;
    assert!(group["directory"]["object"]["member_count"].as_u64().unwrap() >= 1, "{group}");
    assert!(group["directory"]["object"].get("members").is_none());
    // Unknown entity; another tenant's user; a malformed key.
    let unknown = "/api/v1/tenants/acme/entities/account:nobody-here";
    assert_eq!(call(&f.app, "GET", unknown, Some(&f.alice), None).await.0, StatusCode::NOT_FOUND);
    let theirs = "/api/v1/tenants/acme/entities/account:da_admin";
    assert_eq!(call(&f.app, "GET", theirs, Some(&f.bob), None).await.0, StatusCode::NOT_FOUND);
    let malformed = "/api/v1/tenants/acme/entities/da_admin";
    assert_eq!(call(&f.app, "GET", malformed, Some(&f.alice), None).await.0, StatusCode::BAD_REQUEST);

    // A restarted center has the directory from the store.
    let again = Center::start(f.store.clone(), CenterConfig::default()).unwrap();
    let acme = again.directory(&TenantId("acme".into())).unwrap();
    assert!(acme.find("da_admin").is_some());
    assert!(again.directory(&TenantId("globex".into())).is_none());
}

#[test]
fn the_openapi_document_names_every_route() {
    let document = openapi_document();
    for (method, path, _, _) in ROUTES {
        assert!(document["paths"][path][method].is_object(), "{method} {path}");
    }
    assert_eq!(document["openapi"], "3.1.0");
}
