//! Replays every fuzz seed and every crash reproducer through the fuzz entry points on
//! stable Rust, so CI exercises them without nightly.

fn replay(target: &str, run: fn(&[u8])) {
    assert!(orthrus_testkit::replay_fuzz_seeds(target, run) > 0, "no seeds for {target}");
}

#[test]
fn capture_seeds() {
    replay("capture", orthrus_testkit::fuzz::capture);
}

#[test]
fn kerberos_message_seeds() {
    replay("kerberos_message", orthrus_testkit::fuzz::kerberos_message);
}

#[test]
fn ntlmssp_message_seeds() {
    replay("ntlmssp_message", orthrus_testkit::fuzz::ntlmssp_message);
}

#[test]
fn spnego_blob_seeds() {
    replay("spnego_blob", orthrus_testkit::fuzz::spnego_blob);
}

#[test]
fn smb_stream_seeds() {
    replay("smb_stream", orthrus_testkit::fuzz::smb_stream);
}

#[test]
fn dcerpc_stream_seeds() {
    replay("dcerpc_stream", orthrus_testkit::fuzz::dcerpc_stream);
}

#[test]
fn ldap_stream_seeds() {
    replay("ldap_stream", orthrus_testkit::fuzz::ldap_stream);
}

#[test]
fn dns_message_seeds() {
    replay("dns_message", orthrus_testkit::fuzz::dns_message);
}

#[test]
fn name_messages_seeds() {
    replay("name_messages", orthrus_testkit::fuzz::name_messages);
}

#[test]
fn tls_stream_seeds() {
    replay("tls_stream", orthrus_testkit::fuzz::tls_stream);
}

#[test]
fn http_stream_seeds() {
    replay("http_stream", orthrus_testkit::fuzz::http_stream);
}

#[test]
fn tcp_segments_seeds() {
    replay("tcp_segments", orthrus_testkit::fuzz::tcp_segments);
}

#[test]
fn public_corpus_is_in_place() {
    // In CI the shared corpus is always beside the repository; its absence is a failure.
    let corpus = orthrus_testkit::corpus();
    assert!(std::fs::read_dir(corpus).map(|d| d.count()).unwrap_or(0) > 1);
}

#[test]
fn event_json_seeds() {
    replay("event_json", orthrus_testkit::fuzz::event_json);
}

#[test]
fn event_xml_seeds() {
    replay("event_xml", orthrus_testkit::fuzz::event_xml);
}

#[test]
fn event_syslog_seeds() {
    replay("event_syslog", orthrus_testkit::fuzz::event_syslog);
}

#[test]
fn samba_audit_seeds() {
    replay("samba_audit", orthrus_testkit::fuzz::samba_audit);
}

#[test]
fn directory_entry_seeds() {
    replay("directory_entry", orthrus_testkit::fuzz::directory_entry);
}

#[test]
fn text_log_seeds() {
    replay("text_log", orthrus_testkit::fuzz::text_log);
}

#[test]
fn security_descriptor_seeds() {
    replay("security_descriptor", orthrus_testkit::fuzz::security_descriptor);
}

#[test]
fn directory_snapshot_seeds() {
    replay("directory_snapshot", orthrus_testkit::fuzz::directory_snapshot);
}

#[test]
fn evtx_chunk_seeds() {
    replay("evtx_chunk", orthrus_testkit::fuzz::evtx_chunk);
}
