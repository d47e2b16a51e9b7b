//! `orthrus directory sync` against a real Samba AD DC: the lab of ../shared/lab, brought up in
//! network namespaces by its own script and torn down by it (it stops only what it started).
//! Needs root and the Samba packages (.ci/run installs them), so it is ignored by default:
//! `ORTHRUS_LAB_SCRIPT=../shared/lab/make-captures.sh cargo test -p orthrus-cli --test it lab_directory -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use orthrus_directory::{Directory, EntityTags, ObjectKind, Snapshot};
use serde_json::Value;

const DC: &str = "10.99.0.10";
const ADMIN: &str = "da_admin@lab.test";
const ADMIN_PASSWORD: &str = "DaAdm1n!2024";

/// The lab script: `ORTHRUS_LAB_SCRIPT` (a relative path is taken from the workspace root, as
/// the README's command gives it), else ../shared/lab beside the workspace.
fn script() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = std::env::var_os("ORTHRUS_LAB_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/lab/make-captures.sh"));
    if script.is_absolute() { script } else { root.join(script) }
}

/// Runs a command to completion within `limit`, killing it (by its PID) when it overruns.
fn bounded(command: &mut Command, limit: Duration) -> Output {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let started = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return false;
            }
        }
        let _ = Command::new("kill").arg(pid.to_string()).status();
        true
    });
    let output = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    output
}

/// The lab, up for the test's lifetime.
struct Lab {
    work: tempfile::TempDir,
}

impl Lab {
    fn lab_command(&self, verb: &str) -> Command {
        let mut command = Command::new("bash");
        command.arg(script()).arg(verb).env("LAB_WORK", self.work.path());
        if let Some(venv) = std::env::var_os("LAB_VENV") {
            command.env("LAB_VENV", venv);
        }
        command
    }

    fn up() -> Lab {
        let lab = Lab { work: tempfile::tempdir().unwrap() };
        let out = bounded(&mut lab.lab_command("up"), Duration::from_secs(1200));
        assert!(out.status.success(), "lab up failed: {}", String::from_utf8_lossy(&out.stderr));
        lab
    }

    /// A command inside the attacker's namespace (the DC is reachable only there).
    fn on_attacker(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", "itdlab-atk", program]);
        command
    }

    fn ldapmodify(&self, ldif: &str) {
        let file = self.work.path().join("change.ldif");
        std::fs::write(&file, ldif).unwrap();
        let out = bounded(
            self.on_attacker("ldapmodify")
                .args(["-x", "-H", &format!("ldap://{DC}"), "-D", ADMIN, "-w", ADMIN_PASSWORD, "-f"])
                .arg(&file),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn sync(&self, snapshot: &Path, extra: &[&str]) -> Output {
        let password = self.work.path().join("password");
        std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).unwrap();
        let orthrus = assert_cmd::cargo::cargo_bin("orthrus");
        let mut command = self.on_attacker(orthrus.to_str().unwrap());
        command.args(["directory", "sync", "--bind-dn", ADMIN, "--password-file"]).arg(&password);
        command.args(extra).arg("--output").arg(snapshot);
        bounded(&mut command, Duration::from_secs(300))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = bounded(&mut self.lab_command("down"), Duration::from_secs(300));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A Kerberos bind with da_admin's ticket from `kinit` (MIT krb5 on the attacker host, the
/// lab's krb5.conf): the same domain comes back without any password given to orthrus.
#[cfg(feature = "kerberos")]
fn kerberos_sync(lab: &Lab, dir: &Path, objects: usize) {
    use std::io::Write;
    let krb5_conf = lab.work.path().join("krb5.conf");
    let cache = format!("FILE:{}", dir.join("krb5cc").display());
    let mut kinit = lab
        .on_attacker("kinit")
        .env("KRB5_CONFIG", &krb5_conf)
        .env("KRB5CCNAME", &cache)
        .arg("da_admin@LAB.TEST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    kinit.stdin.take().unwrap().write_all(format!("{ADMIN_PASSWORD}\n").as_bytes()).unwrap();
    let out = kinit.wait_with_output().unwrap();
    assert!(out.status.success(), "kinit: {}", stderr(&out));
    let snapshot = dir.join("kerberos.json");
    let orthrus = assert_cmd::cargo::cargo_bin("orthrus");
    let out = bounded(
        lab.on_attacker(orthrus.to_str().unwrap())
            .env("KRB5_CONFIG", &krb5_conf)
            .env("KRB5CCNAME", &cache)
            .args(["directory", "sync", "--kerberos", "--url", &format!("ldap://{DC}"), "--output"])
            .arg(&snapshot),
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("full sync from dc1.lab.test"), "{}", stderr(&out));
    assert_eq!(Snapshot::load(&snapshot).unwrap().domains[0].objects.len(), objects);
}

fn sha256_of_pem(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_owned()
}

#[test]
#[ignore = "needs root and Samba; .ci/run runs it"]
fn lab_directory_sync_full_incremental_and_enrichment() {
    let lab = Lab::up();
    lab.ldapmodify(
        &std::fs::read_to_string(orthrus_testkit::fixture("directory/nested-admins.ldif")).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let snapshot_path = dir.path().join("lab.json");

    // full sync over LDAPS, the DC's self-signed certificate pinned
    let pin = sha256_of_pem(&lab.work.path().join("dc/private/tls/cert.pem"));
    let wrong_pin = format!("00{}", pin.get(2..).unwrap());
    let refused = lab.sync(&snapshot_path, &["--url", &format!("ldaps://{DC}"), "--pin-sha256", &wrong_pin]);
    assert!(
        !refused.status.success() && stderr(&refused).contains("not the pinned one"),
        "{}",
        stderr(&refused)
    );
    assert!(!snapshot_path.exists(), "a refused sync writes nothing");
    let full = lab.sync(&snapshot_path, &["--url", &format!("ldaps://{DC}"), "--pin-sha256", &pin]);
    assert!(full.status.success(), "{}", stderr(&full));
    assert!(stderr(&full).contains("lab.test (LAB): full sync from dc1.lab.test"), "{}", stderr(&full));

    let snapshot = Snapshot::load(&snapshot_path).unwrap();
    let directory = Directory::new(snapshot.clone(), &EntityTags::default());
    let [domain] = snapshot.domains.as_slice() else { panic!("{:?}", snapshot.domains.len()) };
    assert_eq!(domain.netbios_name.as_deref(), Some("LAB"));
    // Group Policy links as provisioned: the Default Domain Policy on the domain root, the
    // Default Domain Controllers Policy on the Domain Controllers OU (fixed GUIDs in AD).
    assert_eq!(directory.gpo_links("{31B2F340-016D-11D2-945F-00C04FB984F9}"), ["DC=lab,DC=test"]);
    assert_eq!(
        directory.gpo_links("{6AC1786C-016F-11D2-945F-00C04fB984F9}"),
        ["OU=Domain Controllers,DC=lab,DC=test"]
    );
    for user in [
        "alice",
        "bob",
        "carol",
        "da_admin",
        "svc_sql",
        "svc_web",
        "svc_backup",
        "dave_np",
        "adm_legacy",
        "old_sqladmin",
    ] {
        assert_eq!(
            directory.find(&format!("LAB\\{user}")).unwrap().object.kind,
            Some(ObjectKind::User),
            "{user}"
        );
    }
    assert_eq!(directory.find_spn("MSSQLSvc/sql01.lab.test:1433").unwrap().object.name(), "svc_sql");
    assert_eq!(directory.find_spn("HTTP/intranet.lab.test").unwrap().object.name(), "svc_web");
    assert!(directory.find("dave_np").unwrap().object.does_not_require_preauth());
    assert!(!directory.find("bob").unwrap().object.does_not_require_preauth());
    let staff = directory.find("LAB\\IT Staff").unwrap();
    assert_eq!(directory.transitive_members(&staff).len(), 7);
    let admins = directory.find("LAB\\Domain Admins").unwrap();
    let mut members: Vec<&str> =
        directory.transitive_members(&admins).iter().map(|f| f.object.name()).collect();
    members.sort_unstable();
    assert_eq!(members, ["Administrator", "da_admin", "nested_admin", "tier0ops"]);
    let nested = directory.find("nested_admin@lab.test").unwrap();
    assert_eq!(directory.sensitivity(&nested).unwrap().reason, "member of Domain Admins through tier0ops");
    assert!(directory.find_computer("dc1.lab.test").unwrap().object.is_domain_controller());

    #[cfg(feature = "kerberos")]
    kerberos_sync(&lab, dir.path(), domain.objects.len());

    // a service named without its port is the account that registered it with one; a realm
    // after the service is not read as a user's name@REALM
    assert_eq!(directory.find_spn("MSSQLSvc/sql01.lab.test").unwrap().object.name(), "svc_sql");
    assert_eq!(directory.find("MSSQLSvc/sql01.lab.test:1433@LAB.TEST").unwrap().object.name(), "svc_sql");

    // incremental over StartTLS: only the new account (and the group it joins) come back
    let newhire = "CN=newhire02,CN=Users,DC=lab,DC=test";
    lab.ldapmodify(&format!(
        "dn: {newhire}\nchangetype: add\nobjectClass: user\nsAMAccountName: newhire02\n"
    ));
    lab.ldapmodify(&format!(
        "dn: CN=Domain Admins,CN=Users,DC=lab,DC=test\nchangetype: modify\nadd: member\nmember: {newhire}\n"
    ));
    let tls = ["--url", &format!("ldap://{DC}"), "--starttls", "--pin-sha256", &pin];
    let added = lab.sync(&snapshot_path, &tls);
    assert!(added.status.success(), "{}", stderr(&added));
    let text = stderr(&added);
    assert!(text.contains("incremental sync") && text.contains("1 added"), "{text}");
    assert!(text.contains(&format!("added: {newhire}")), "{text}");
    let after = Snapshot::load(&snapshot_path).unwrap();
    assert_eq!(after.domains[0].objects.len(), domain.objects.len() + 1);
    let sensitive = |snapshot: &Path| {
        let directory = Directory::new(Snapshot::load(snapshot).unwrap(), &EntityTags::default());
        let found = directory.find("LAB\\newhire02").expect("newhire02 in the snapshot");
        directory.sensitivity(&found).map(|s| s.reason.clone())
    };
    assert_eq!(sensitive(&snapshot_path).as_deref(), Some("member of Domain Admins"));

    // deleted: Samba drops the group link without bumping the group's uSNChanged, so the
    // incremental sync must take the DN out of the member list itself
    lab.ldapmodify(&format!("dn: {newhire}\nchangetype: delete\n"));
    let deleted = lab.sync(&snapshot_path, &tls);
    assert!(
        stderr(&deleted).contains("0 added") && stderr(&deleted).contains("1 deleted"),
        "{}",
        stderr(&deleted)
    );
    let admins_after = Snapshot::load(&snapshot_path).unwrap();
    let group = admins_after.domains[0].objects.iter().find(|o| o.name() == "Domain Admins").unwrap();
    assert!(!group.members.iter().any(|m| m.eq_ignore_ascii_case(newhire)), "{:?}", group.members);

    // a new account of the same name, in no group: not sensitive (it was, before the fix)
    lab.ldapmodify(&format!(
        "dn: {newhire}\nchangetype: add\nobjectClass: user\nsAMAccountName: newhire02\n"
    ));
    let again = lab.sync(&snapshot_path, &tls);
    assert!(
        stderr(&again).contains("incremental sync") && stderr(&again).contains("1 added"),
        "{}",
        stderr(&again)
    );
    assert_eq!(sensitive(&snapshot_path), None);
    let lookup = assert_cmd::Command::cargo_bin("orthrus")
        .unwrap()
        .args(["directory", "lookup", "--directory"])
        .arg(&snapshot_path)
        .arg("newhire02")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&lookup.stdout);
    assert!(
        lookup.status.success() && shown.contains("newhire02") && !shown.contains("SENSITIVE"),
        "{shown}"
    );

    // --no-full-reconciliation keeps incremental; a full read is forced by --full-every-days
    // only once the interval passed, which a fresh snapshot has not
    let kept = lab.sync(&snapshot_path, &[&tls[..], &["--full-every-days", "1"]].concat());
    assert!(stderr(&kept).contains("incremental sync"), "{}", stderr(&kept));

    // the lab captures replayed with the fresh snapshot: named, marked, escalated
    let config = dir.path().join("orthrus.toml");
    std::fs::write(&config, "[entities]\nhoneytokens = [\"LAB\\\\adm_legacy\"]\n").unwrap();
    let analyze = |capture: &str| -> Vec<Value> {
        let out = assert_cmd::Command::cargo_bin("orthrus")
            .unwrap()
            .args(["analyze", "--format", "json", "--directory"])
            .arg(&snapshot_path)
            .arg("--config")
            .arg(&config)
            .arg(orthrus_testkit::fixture(&format!("pcap/{capture}.pcap")))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let honey = analyze("honeytoken_auth");
    let alert = honey.iter().find(|a| a["detection"] == "ORT-KRB-010").expect("honeytoken alert");
    let entity = alert["entities"].as_array().unwrap().iter().find(|e| e["name"] == "adm_legacy").unwrap();
    assert_eq!(
        (entity["honeytoken"].as_bool(), entity["directory_name"].as_str()),
        (Some(true), Some("LAB\\adm_legacy"))
    );
    assert_eq!(alert["source"]["computer"], "VM", "named from its NTLM workstation");

    let roast = analyze("kerberoast");
    let alert = roast.iter().find(|a| a["detection"] == "ORT-KRB-001").unwrap();
    assert_eq!(alert["severity"], "high");
    let backup = alert["entities"].as_array().unwrap().iter().find(|e| e["name"] == "svc_backup").unwrap();
    assert_eq!(backup["sensitive_reason"], "member of Backup Operators");
}
