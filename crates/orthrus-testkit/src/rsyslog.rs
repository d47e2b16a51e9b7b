//! A real rsyslog for tests: started on loopback ports with its own configuration, writing
//! the header fields its parser found and the message to a file; stopped by its PID when
//! dropped. Debian's `rsyslog` package (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn rsyslogd() -> PathBuf {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("rsyslogd (Debian package rsyslog; .ci/run installs it)")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// rsyslog as a child process; killed by PID when dropped.
pub struct Rsyslog {
    child: Child,
    /// The file rsyslog writes: `pri|version|time|host|app|procid|msgid|sd|tag|msg` per line.
    pub out: PathBuf,
    pub udp: u16,
    pub tcp: u16,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rsyslog listening on loopback: UDP (when given) and TCP, writing what it parsed to a file.
pub fn launch(dir: &Path, name: &str, udp: Option<u16>, tcp: u16) -> Rsyslog {
    let udp_input = udp.map_or_else(String::new, |port| {
        format!("module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n")
    });
    let inputs = format!(
        "{udp_input}module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\")\n"
    );
    start(dir, name, "", &inputs, udp.unwrap_or_default(), tcp)
}

/// rsyslog taking syslog over TLS (RFC 5425) on loopback `port`, with the PEM certificate
/// and key given (Debian's rsyslog-openssl driver; .ci/run installs it).
pub fn launch_tls(dir: &Path, name: &str, port: u16, cert: &Path, key: &Path) -> Rsyslog {
    let global = format!(
        " defaultNetstreamDriver=\"ossl\" defaultNetstreamDriverCAFile=\"{cert}\" \
         defaultNetstreamDriverCertFile=\"{cert}\" defaultNetstreamDriverKeyFile=\"{key}\"",
        cert = cert.display(),
        key = key.display()
    );
    let inputs = format!(
        "module(load=\"imtcp\" streamDriver.name=\"ossl\" streamDriver.mode=\"1\" \
         streamDriver.authMode=\"anon\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n"
    );
    start(dir, name, &global, &inputs, 0, port)
}

/// How a forwarding rsyslog reaches its target.
pub enum Forward<'a> {
    /// Plain TCP, octet-counted frames.
    Tcp,
    /// TLS (the rsyslog-openssl driver): the target's certificate checked against `ca` for the
    /// name `localhost`, and `cert`/`key` presented as the client's.
    Tls { ca: &'a Path, cert: &'a Path, key: &'a Path },
}

/// rsyslog reading `file` from its start (imfile; one message per line, up to 256 KiB) and
/// forwarding every line to 127.0.0.1:`port` in RFC 5424 frames, as a forwarder beside a
/// Windows event collector does. Stopped by PID when dropped.
pub fn forward_file(dir: &Path, name: &str, file: &Path, port: u16, forward: &Forward<'_>) -> Rsyslog {
    let (global, driver) = match forward {
        Forward::Tcp => (String::new(), String::new()),
        Forward::Tls { ca, cert, key } => (
            format!(
                " defaultNetstreamDriver=\"ossl\" defaultNetstreamDriverCAFile=\"{}\" \
                 defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
                ca.display(),
                cert.display(),
                key.display()
            ),
            " StreamDriver=\"ossl\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" \
             StreamDriverPermittedPeers=\"localhost\""
                .to_owned(),
        ),
    };
    let config = format!(
        r#"global(workDirectory="{dir}" maxMessageSize="256k"{global})
module(load="imfile")
input(type="imfile" file="{file}" tag="winevents" freshStartTail="off")
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"{driver})
"#,
        dir = dir.display(),
        file = file.display(),
    );
    let (child, errors) = spawn(dir, name, &config);
    Rsyslog { child, out: errors, udp: 0, tcp: port }
}

/// rsyslogd in the foreground with `config`; its standard error goes to NAME.stderr.
fn spawn(dir: &Path, name: &str, config: &str) -> (Child, PathBuf) {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, config).unwrap();
    let errors = dir.join(format!("{name}.stderr"));
    let child = killed_with_this_thread()
        .arg(rsyslogd())
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join(format!("{name}.pid")))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    (child, errors)
}

fn start(dir: &Path, name: &str, global: &str, inputs: &str, udp: u16, tcp: u16) -> Rsyslog {
    let out = dir.join(format!("{name}.log"));
    // Fields rsyslog parsed out of each message, `msg` last (CEF itself contains `|`).
    let config = format!(
        r#"global(workDirectory="{dir}"{global})
{inputs}template(name="fields" type="string" string="%pri%|%protocol-version%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%syslogtag%|%msg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
        dir = dir.display(),
        out = out.display()
    );
    let (child, errors) = spawn(dir, name, &config);
    // Owned before anything can panic: a failed wait below still stops the process on drop.
    let mut rsyslog = Rsyslog { child, out, udp, tcp };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", tcp)).is_err() {
        if let Ok(Some(status)) = rsyslog.child.try_wait() {
            let said = std::fs::read_to_string(&errors).unwrap_or_default();
            panic!("rsyslogd exited ({status}) before listening on {tcp}: {said}");
        }
        assert!(started.elapsed() < Duration::from_secs(15), "rsyslogd did not listen on {tcp}");
        std::thread::sleep(Duration::from_millis(100));
    }
    rsyslog
}

/// A command that runs the program given as its first argument and sends it SIGTERM when
/// the spawning (test) thread ends: a test binary killed from outside (a timeout, ^C) runs no
/// destructor, and its rsyslogd would otherwise outlive it. util-linux's `setpriv` sets the
/// parent-death signal and execs, which keeps this crate free of `unsafe` (`pre_exec`).
fn killed_with_this_thread() -> Command {
    let setpriv = Path::new("/usr/bin/setpriv");
    if setpriv.exists() {
        let mut command = Command::new(setpriv);
        command.arg("--pdeathsig=TERM");
        command
    } else {
        // Without it: the child is still stopped by PID on drop, only not after a kill.
        let mut command = Command::new("/usr/bin/env");
        command.arg("--");
        command
    }
}

/// The whole lines rsyslog has written, once there are `n` of them (or after 15 s).
pub fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // Only whole lines: rsyslog may be writing the last one as we read.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        let lines: Vec<String> = whole.lines().map(str::to_owned).collect();
        if lines.len() >= n || started.elapsed() > Duration::from_secs(15) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
