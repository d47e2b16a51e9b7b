//! `orthrus admin` and `orthrus server` on a PostgreSQL store (feature `postgres`), on the
//! server `ORTHRUS_PG_URL` names (.ci/run starts Debian's and makes a role that may create
//! databases): a batch in, the alert out through the API; the center restarted on the same
//! database has the same alert once. The database is this test's own, dropped at the end.

use serde_json::{Value, json};

use super::server::{acme, https, start_center};

#[test]
fn the_center_runs_on_postgresql() {
    let url = std::env::var("ORTHRUS_PG_URL")
        .expect("ORTHRUS_PG_URL: a PostgreSQL server this test may create a database on (see .ci/run)");
    let server: postgres::Config = url.parse().unwrap();
    let mut admin_db = server.connect(postgres::NoTls).unwrap();
    let database = format!("orthrus_server_{}", std::process::id());
    admin_db.execute(&format!("DROP DATABASE IF EXISTS \"{database}\""), &[]).unwrap();
    admin_db.execute(&format!("CREATE DATABASE \"{database}\""), &[]).unwrap();
    let store = format!("{url} dbname={database}");

    let dir = tempfile::tempdir().unwrap();
    let (sensor_token, user_token) = acme(&store);
    let cert = dir.path().join("center.crt");
    let config = dir.path().join("center.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{store}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            dir.path().join("center.key").display()
        ),
    )
    .unwrap();
    let alerts = |address: &str| -> Value {
        let (status, body) = https(address, &cert, "GET", "/api/v1/tenants/acme/alerts", &user_token, None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    {
        let (_center, address, _) = start_center(&config);
        let batch = json!({ "sequence": 1, "activities": orthrus_testkit::lab_activities("dcsync") });
        let (status, body) =
            https(&address, &cert, "POST", "/api/v1/sensor/batches", &sensor_token, Some(&batch));
        assert_eq!(status, 200, "{body}");
        let listed = alerts(&address);
        assert_eq!((&listed["total"], &listed["alerts"][0]["detection"]), (&json!(1), &json!("ORT-DRS-001")));
        // The same batch again is a retry, not new data.
        let (_, body) = https(&address, &cert, "POST", "/api/v1/sensor/batches", &sensor_token, Some(&batch));
        assert!(body.contains("\"duplicate\":true"), "{body}");
    }
    // Restarted on the same database: the engine is rebuilt from it, nothing doubles.
    let (center, address, _) = start_center(&config);
    let listed = alerts(&address);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["alerts"][0]["count"], alerts(&address)["alerts"][0]["count"]);
    drop(center);
    admin_db.execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"), &[]).unwrap();
}
