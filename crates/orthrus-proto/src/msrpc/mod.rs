//! MSRPC interfaces above DCE-RPC: the interface table (UUID → name, opnum → operation) and
//! NDR 2.0 decoding of the few request stubs detections read (MS-RPCE §2.2.5, C706 ch. 14):
//! DRSUAPI DRSGetNCChanges, SVCCTL RCreateServiceW, SAMR SamrLookupNamesInDomain, Netlogon
//! NetrServerReqChallenge / NetrServerAuthenticate3 / NetrServerPasswordSet2, TSCH
//! SchRpcRegisterTask and ATSVC NetrJobAdd. Checked on stubs impacket encodes
//! (`testdata/msrpc/`). Hand-written: no passive NDR decoder exists (see crates.md).
//!
//! Each decoder takes a little-endian request stub and returns `None` when it does not
//! hold what the specification says: a stub never panics and never allocates beyond its
//! own length.

pub mod interfaces;

use orthrus_model::BackupKeyAction;
pub use orthrus_model::RpcDetail;

use crate::wire::{Cursor, guid_text, utf16le};

/// Names read from one SamrLookupNamesInDomain (the specification allows 1000).
const MAX_LOOKUP_NAMES: usize = 1000;
/// Bytes of a scheduled task's XML kept (enough for the actions).
const MAX_TASK_XML: usize = 64 << 10;

/// Sessions read from one NetrSessionEnum answer.
const MAX_SESSIONS: usize = 1000;

/// Whether Orthrus reads the response of `interface`'s `opnum` (so the tracker keeps it).
pub fn reads_response(interface: &str, opnum: u16) -> bool {
    matches!((interface, opnum), (interfaces::SRVSVC, 12))
}

/// Decodes the response stub of `interface`'s `opnum` where Orthrus reads it.
pub fn decode_response(interface: &str, opnum: u16, stub: &[u8], ndr64: bool) -> Option<RpcDetail> {
    let mut ndr = Ndr { c: Cursor::new(stub), ndr64 };
    match (interface, opnum) {
        (interfaces::SRVSVC, 12) => session_enum(&mut ndr),
        _ => None,
    }
}

/// NetrSessionEnum's SESSION_ENUM_STRUCT { Level, union switch, container* { EntriesRead,
/// SESSION_INFO_10/0* } } (MS-SRVS 2.2.4.21): levels 10 (client, user) and 0 (client).
fn session_enum(ndr: &mut Ndr<'_>) -> Option<RpcDetail> {
    let pointer = if ndr.ndr64 { 8 } else { 4 };
    let level = ndr.c.u32()?;
    ndr.c.align(pointer)?; // the union aligns to its arms (a pointer)
    ndr.c.u32()?; // the union's switch: the level again
    if !matches!(level, 0 | 10) || ndr.referent()? == 0 {
        return None;
    }
    ndr.c.align(pointer)?;
    let entries = ndr.c.u32()? as usize;
    if ndr.referent()? == 0 {
        return Some(RpcDetail::Sessions { sessions: Vec::new() });
    }
    let count = usize::try_from(ndr.count()?).ok()?.min(entries).min(MAX_SESSIONS);
    let mut pointers = Vec::with_capacity(count.min(ndr.c.remaining().len() / 8));
    for _ in 0..count {
        ndr.c.align(pointer)?;
        let client = ndr.referent()?;
        let user = if level == 10 {
            let user = ndr.referent()?;
            ndr.c.skip(8)?; // time, idle time
            user
        } else {
            0
        };
        pointers.push((client, user));
    }
    let mut sessions = Vec::with_capacity(pointers.len());
    for (client, user) in pointers {
        let client = if client != 0 { ndr.string()? } else { String::new() };
        let user = if user != 0 { ndr.string()? } else { String::new() };
        sessions.push(orthrus_model::SessionEntry { client, user });
    }
    Some(RpcDetail::Sessions { sessions })
}

/// Decodes the request stub of `interface`'s `opnum` where Orthrus reads it; `ndr64` when
/// the presentation context negotiated NDR64 (8-byte pointers and counts) over NDR 2.0.
pub fn decode_request(interface: &str, opnum: u16, stub: &[u8], ndr64: bool) -> Option<RpcDetail> {
    let mut ndr = Ndr { c: Cursor::new(stub), ndr64 };
    match (interface, opnum) {
        (interfaces::DRSUAPI, 3) => get_nc_changes(&mut ndr),
        (interfaces::SVCCTL, 12) => create_service(&mut ndr),
        (interfaces::SAMR, 17) => lookup_names(&mut ndr),
        // LsarOpenSecret(PolicyHandle, SecretName, ...), LsarRetrievePrivateData(PolicyHandle,
        // KeyName, ...), LsarStorePrivateData(PolicyHandle, KeyName, ...): the name follows the
        // handle as an RPC_UNICODE_STRING whose buffer is marshalled right after it.
        (interfaces::LSARPC, 28 | 42 | 43) => {
            ndr.c.skip(20)?;
            Some(RpcDetail::LsaSecret { name: ndr.unicode_string()? })
        }
        // BackuprKey(pguidActionAgent, pDataIn, cbDataIn, ...): the GUID is a top-level [ref]
        // pointer, so it is marshalled first and in place (little-endian fields).
        (interfaces::BKRP, 0) => {
            let guid = ndr.c.array::<16>()?;
            Some(RpcDetail::BackupKey { action: BackupKeyAction::from_guid(&guid_text(&guid)) })
        }
        (interfaces::SAMR, 34) => {
            // SamrOpenUser(DomainHandle, DesiredAccess, UserId)
            ndr.c.skip(20)?;
            ndr.c.u32()?;
            Some(RpcDetail::OpenUser { rid: ndr.c.u32()? })
        }
        (interfaces::NETLOGON, 4) => {
            ndr.unique_string()?;
            let computer_name = ndr.string()?;
            let challenge = ndr.c.array::<8>()?;
            Some(RpcDetail::NetlogonChallenge { computer_name, client_challenge_zero: challenge == [0; 8] })
        }
        (interfaces::NETLOGON, 26) => {
            ndr.unique_string()?;
            let account_name = ndr.string()?;
            ndr.c.align(2)?;
            ndr.c.u16()?; // secure channel type
            let computer_name = ndr.string()?;
            let credential = ndr.c.array::<8>()?;
            ndr.c.align(4)?;
            let flags = ndr.c.u32()?;
            Some(RpcDetail::NetlogonAuthenticate {
                account_name,
                computer_name,
                credential_zero: credential == [0; 8],
                flags,
            })
        }
        // NetrServerTrustPasswordsGet / NetrServerGetTrustInfo(TrustedDcName, AccountName,
        // SecureChannelType, ComputerName, Authenticator, ...).
        (interfaces::NETLOGON, 42 | 46) => {
            ndr.unique_string()?;
            let account_name = ndr.string()?;
            ndr.c.align(2)?;
            let secure_channel_type = ndr.c.u16()?;
            let computer_name = ndr.string()?;
            Some(RpcDetail::NetlogonAccountSecret { account_name, secure_channel_type, computer_name })
        }
        (interfaces::NETLOGON, 30) => {
            ndr.unique_string()?;
            let account_name = ndr.string()?;
            ndr.c.align(2)?;
            ndr.c.u16()?;
            let computer_name = ndr.string()?;
            let credential = ndr.c.array::<8>()?;
            Some(RpcDetail::NetlogonPasswordSet {
                account_name,
                computer_name,
                credential_zero: credential == [0; 8],
            })
        }
        (interfaces::ATSVC, 0) => {
            // NetrJobAdd(ServerName, AT_INFO {JobTime (DWORD_PTR), DaysOfMonth, DaysOfWeek,
            // Flags, Command*}).
            ndr.unique_string()?;
            ndr.count()?; // JobTime: pointer-sized
            ndr.c.skip(4 + 1 + 1)?;
            let command = match ndr.referent()? {
                0 => None,
                _ => Some(ndr.string()?),
            };
            Some(RpcDetail::RegisterTask { path: None, command })
        }
        // RpcRemoteFindFirstPrinterChangeNotification(Ex)(hPrinter, fdwFlags, fdwOptions,
        // [unique, string] pszLocalMachine, ...): the machine the server is to call back.
        (interfaces::RPRN, 62 | 65) => {
            ndr.c.skip(20)?;
            ndr.c.u32()?;
            ndr.c.u32()?;
            Some(RpcDetail::Callback { path: ndr.unique_string()?.unwrap_or_default() })
        }
        // RpcAddPrinterDriverEx(pName [unique, string], pDriverContainer [ref]
        // DRIVER_CONTAINER {Level, union {DRIVER_INFO_n*}}, dwFileCopyFlags): level 2's
        // DRIVER_INFO_2 {cVersion, pName, pEnvironment, pDriverPath, pDataFile, pConfigFile}
        // (levels 3, 4, 6 and 8 begin the same way), its strings deferred after it.
        // RpcAsyncAddPrinterDriver takes RpcAddPrinterDriverEx's arguments (MS-PAR 3.1.4.2.2);
        // it is readable only when the client did not seal it.
        (interfaces::RPRN, 89) | (interfaces::PAR, 39) => printer_driver(&mut ndr),
        // EfsRpcOpenFileRaw, EncryptFileSrv, DecryptFileSrv, QueryUsersOnFile,
        // QueryRecoveryAgents, AddUsersToFile, FileKeyInfo: the file name, a [ref, string]
        // wchar_t*, comes first.
        (interfaces::EFSRPC | interfaces::EFSRPC_PIPE, 0 | 4 | 5 | 6 | 7 | 9 | 12) => {
            Some(RpcDetail::Callback { path: ndr.string()? })
        }
        // NetrDfsAddStdRoot / NetrDfsRemoveStdRoot(ServerName [ref, string], RootShare, ...).
        (interfaces::DFSNM, 12 | 13) => Some(RpcDetail::Callback { path: ndr.string()? }),
        (interfaces::TSCH, 1) => {
            let path = ndr.unique_string()?;
            let xml = ndr.string_bounded(MAX_TASK_XML)?;
            Some(RpcDetail::RegisterTask { path, command: task_command(&xml) })
        }
        _ => None,
    }
}

fn printer_driver(ndr: &mut Ndr<'_>) -> Option<RpcDetail> {
    ndr.unique_string()?;
    ndr.c.align(4)?;
    let level = ndr.c.u32()?;
    let _tag = ndr.count()?;
    if !matches!(level, 2 | 3 | 4 | 6 | 8) || ndr.referent()? == 0 {
        return None;
    }
    ndr.c.align(4)?;
    ndr.c.u32()?; // cVersion
    let referents = [ndr.referent()?, ndr.referent()?, ndr.referent()?, ndr.referent()?, ndr.referent()?];
    let mut strings = Vec::with_capacity(referents.len());
    for referent in referents {
        strings.push(if referent == 0 { String::new() } else { ndr.string()? });
    }
    let mut strings = strings.into_iter();
    let name = strings.next().unwrap_or_default();
    let files: Vec<String> = strings.skip(1).filter(|f| !f.is_empty()).collect();
    // Levels above 2 carry more fields before the flags; only level 2's end is known here.
    let copy_flags = if level == 2 { ndr.c.align(4).and_then(|()| ndr.c.u32()).unwrap_or(0) } else { 0 };
    Some(RpcDetail::PrinterDriver { name, files, copy_flags })
}

/// The first `<Command>` of a task definition, with its `<Arguments>` (the task XML of
/// SchRpcRegisterTask on the wire and of event 4698 alike).
pub fn task_command(xml: &str) -> Option<String> {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open)? + open.len();
        let end = xml.get(start..)?.find(&format!("</{name}>"))?;
        xml.get(start..start + end).map(|text| unescape_xml(text.trim()))
    };
    let command = element("Command")?;
    Some(match element("Arguments") {
        Some(args) if !args.is_empty() => format!("{command} {args}"),
        _ => command,
    })
}

/// XML's five predefined entities (task definitions escape `>` and `&` in commands).
fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// NDR 2.0 or NDR64 (little-endian) reading on top of [`Cursor`].
struct Ndr<'a> {
    c: Cursor<'a>,
    ndr64: bool,
}

impl Ndr<'_> {
    /// A conformance or variance count, or a pointer's referent id: 4 bytes in NDR 2.0, 8
    /// in NDR64, aligned to their size.
    fn count(&mut self) -> Option<u64> {
        if self.ndr64 {
            self.c.align(8)?;
            self.c.u64()
        } else {
            self.c.align(4)?;
            self.c.u32().map(u64::from)
        }
    }

    /// A conformant varying string (`[string] wchar_t*`, ref pointer: no referent id).
    fn string(&mut self) -> Option<String> {
        self.string_bounded(crate::wire::MAX_STRING_CHARS * 2)
    }

    fn string_bounded(&mut self, max_bytes: usize) -> Option<String> {
        let _max = self.count()?;
        let _offset = self.count()?;
        let actual = usize::try_from(self.count()?).ok()?;
        let bytes = self.c.take(actual.checked_mul(2)?)?;
        Some(wide_text(bytes.get(..max_bytes.min(bytes.len()))?))
    }

    /// An RPC_UNICODE_STRING {Length, MaximumLength, Buffer*} with its buffer right behind.
    fn unicode_string(&mut self) -> Option<String> {
        // The structure aligns to its pointer: 4 in NDR 2.0, 8 in NDR64.
        let pointer = if self.ndr64 { 8 } else { 4 };
        self.c.align(pointer)?;
        self.c.skip(4)?; // Length, MaximumLength (in bytes)
        self.c.align(pointer)?;
        match self.referent()? {
            0 => Some(String::new()),
            _ => self.string(),
        }
    }

    /// A `[unique, string] wchar_t*`: a referent id, then the string unless null.
    fn unique_string(&mut self) -> Option<Option<String>> {
        match self.count()? {
            0 => Some(None),
            _ => self.string().map(Some),
        }
    }

    fn referent(&mut self) -> Option<u64> {
        self.count()
    }
}

/// UTF-16 without the NUL terminator NDR strings carry (longer strings are cut by utf16le).
fn wide_text(bytes: &[u8]) -> String {
    let mut units = bytes.as_chunks::<2>().0.iter().map(|c| u16::from_le_bytes(*c)).collect::<Vec<_>>();
    while units.last() == Some(&0) {
        units.pop();
    }
    let raw: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
    utf16le(&raw)
}

/// `IDL_DRSGetNCChanges(hDrs, dwInVersion, [switch_is(dwInVersion)] pmsgIn, ...)` with
/// request versions 5, 8, 10 and 11 (MS-DRSR §4.1.10.2).
fn get_nc_changes(ndr: &mut Ndr<'_>) -> Option<RpcDetail> {
    ndr.c.skip(20)?; // context handle
    let version = ndr.c.u32()?;
    let _arm = ndr.c.u32()?; // the union's discriminant, repeated
    if !matches!(version, 5 | 8 | 10 | 11) {
        return None;
    }
    ndr.c.align(8)?;
    let destination = ndr.c.array::<16>()?;
    ndr.c.skip(16)?; // uuidInvocIdSrc
    let nc_referent = ndr.referent()?;
    ndr.c.align(8)?;
    ndr.c.skip(24)?; // usnvecFrom
    ndr.referent()?; // pUpToDateVecDest
    ndr.c.skip(12)?; // ulFlags, cMaxObjects, cMaxBytes
    let extended_op = ndr.c.u32()?;
    ndr.c.align(8)?;
    ndr.c.skip(8)?; // liFsmoInfo
    if version >= 8 {
        ndr.referent()?; // pPartialAttrSet
        ndr.referent()?; // pPartialAttrSetEx
        ndr.c.align(if ndr.ndr64 { 8 } else { 4 })?;
        ndr.c.skip(4)?; // PrefixTableDest.PrefixCount
        ndr.referent()?; // PrefixTableDest.pPrefixEntry
    }
    if version >= 10 {
        ndr.c.align(4)?;
        ndr.c.skip(4)?; // ulMoreFlags
    }
    // Deferred pointees follow the struct, in order: pNC (DSNAME) is the first. V11 adds
    // members after ulMoreFlags that are not decoded here, so its NC is not read.
    let naming_context = if nc_referent != 0 && version != 11 {
        let _conformance = ndr.count()?;
        ndr.c.skip(8 + 16 + 28)?; // structLen, SidLen, Guid, Sid
        let name_len = ndr.c.u32()? as usize;
        Some(wide_text(ndr.c.take(name_len.checked_mul(2)?)?))
    } else {
        None
    };
    Some(RpcDetail::GetNcChanges { destination_dsa: guid_text(&destination), naming_context, extended_op })
}

fn create_service(ndr: &mut Ndr<'_>) -> Option<RpcDetail> {
    ndr.c.skip(20)?; // hSCManager
    let service_name = ndr.string()?;
    let display_name = ndr.unique_string()?;
    ndr.c.align(4)?;
    ndr.c.skip(16)?; // desired access, service type, start type, error control
    let binary_path = ndr.string()?;
    Some(RpcDetail::CreateService { service_name, display_name, binary_path })
}

fn lookup_names(ndr: &mut Ndr<'_>) -> Option<RpcDetail> {
    ndr.c.skip(20)?; // DomainHandle
    let count = (ndr.c.u32()? as usize).min(MAX_LOOKUP_NAMES);
    let _max = ndr.count()?;
    let _offset = ndr.count()?;
    let actual = usize::try_from(ndr.count()?).ok()?.min(count);
    // RPC_UNICODE_STRING {Length, MaximumLength, Buffer*}; the buffers are deferred.
    let mut referents = Vec::with_capacity(actual.min(ndr.c.remaining().len() / 8));
    for _ in 0..actual {
        ndr.c.align(if ndr.ndr64 { 8 } else { 4 })?;
        ndr.c.skip(4)?;
        referents.push(ndr.referent()?);
    }
    let mut names = Vec::with_capacity(referents.len());
    for referent in referents {
        if referent != 0 {
            names.push(ndr.string()?);
        }
    }
    Some(RpcDetail::LookupNames { names })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndr_string(out: &mut Vec<u8>, s: &str) {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        let units: Vec<u16> = s.encode_utf16().chain([0]).collect();
        for v in [units.len() as u32, 0, units.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    }

    #[test]
    fn lsa_secret_names_in_ndr20() {
        // LsarOpenSecret(PolicyHandle, SecretName = "G$BCKUPKEY_PREFERRED", DesiredAccess)
        let mut stub = vec![0u8; 20];
        let name = "G$BCKUPKEY_PREFERRED";
        let bytes = (name.len() * 2) as u16;
        stub.extend_from_slice(&bytes.to_le_bytes());
        stub.extend_from_slice(&(bytes + 2).to_le_bytes());
        stub.extend_from_slice(&0x0002_0000u32.to_le_bytes());
        ndr_string(&mut stub, name);
        stub.extend_from_slice(&0x0002_0000u32.to_le_bytes());
        assert_eq!(
            decode_request(interfaces::LSARPC, 28, &stub, false),
            Some(RpcDetail::LsaSecret { name: name.into() })
        );
        // a null buffer, and a stub cut anywhere, never panic
        assert!(decode_request(interfaces::LSARPC, 43, &stub[..30], false).is_none());
    }

    #[test]
    fn backup_key_actions_by_guid() {
        // BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID as impacket's bkrp marshals it, then pDataIn.
        let mut stub = vec![
            0x8a, 0xf4, 0x8f, 0x01, 0xba, 0xea, 0xc6, 0x40, 0x8f, 0x6d, 0x72, 0x37, 0x02, 0x40, 0xe9, 0x67,
        ];
        stub.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(
            decode_request(interfaces::BKRP, 0, &stub, false),
            Some(RpcDetail::BackupKey { action: BackupKeyAction::RetrieveBackupKey })
        );
        assert_eq!(
            decode_request(interfaces::BKRP, 0, &[0x11; 16], false),
            Some(RpcDetail::BackupKey {
                action: BackupKeyAction::Other("11111111-1111-1111-1111-111111111111".into())
            })
        );
        assert!(decode_request(interfaces::BKRP, 0, &stub[..15], false).is_none());
    }

    #[test]
    fn create_service_names_the_binary() {
        let mut stub = vec![0u8; 20];
        ndr_string(&mut stub, "BTOBTO");
        while !stub.len().is_multiple_of(4) {
            stub.push(0);
        }
        stub.extend_from_slice(&0x20000u32.to_le_bytes()); // display name referent
        ndr_string(&mut stub, "BTOBTO");
        while !stub.len().is_multiple_of(4) {
            stub.push(0);
        }
        stub.extend_from_slice(&[0; 16]);
        ndr_string(&mut stub, "%COMSPEC% /Q /c echo whoami");
        let detail = decode_request(interfaces::SVCCTL, 12, &stub, false).unwrap();
        assert_eq!(
            detail,
            RpcDetail::CreateService {
                service_name: "BTOBTO".into(),
                display_name: Some("BTOBTO".into()),
                binary_path: "%COMSPEC% /Q /c echo whoami".into(),
            }
        );
        // Every prefix is refused or decoded, never a panic.
        for n in 0..stub.len() {
            let _ = decode_request(interfaces::SVCCTL, 12, &stub[..n], false);
        }
    }

    /// Stubs encoded by impacket (`testdata/msrpc/make_stubs.py`).
    fn impacket_stub(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/msrpc/");
        std::fs::read(format!("{path}{name}")).unwrap()
    }

    #[test]
    fn impacket_get_nc_changes_names_the_replica_and_the_partition() {
        for (file, exop) in [("drsuapi_getncchanges_v8.bin", 6), ("drsuapi_getncchanges_v10.bin", 0)] {
            let stub = impacket_stub(file);
            assert_eq!(
                decode_request(interfaces::DRSUAPI, 3, &stub, false),
                Some(RpcDetail::GetNcChanges {
                    destination_dsa: "6c2e9f4e-1d2b-4b6f-9a1e-3f9b2c7d8e01".into(),
                    naming_context: Some("DC=lab,DC=test".into()),
                    extended_op: exop,
                }),
                "{file}"
            );
            for n in 0..stub.len() {
                let _ = decode_request(interfaces::DRSUAPI, 3, &stub[..n], false);
            }
        }
    }

    #[test]
    fn impacket_lookup_names_and_netlogon_authenticate() {
        let names = decode_request(interfaces::SAMR, 17, &impacket_stub("samr_lookupnames.bin"), false);
        assert_eq!(
            names,
            Some(RpcDetail::LookupNames { names: vec!["Domain Admins".into(), "krbtgt".into()] })
        );
        let auth =
            decode_request(interfaces::NETLOGON, 26, &impacket_stub("netlogon_authenticate3.bin"), false);
        assert_eq!(
            auth,
            Some(RpcDetail::NetlogonAuthenticate {
                account_name: "WS01$".into(),
                computer_name: "WS01".into(),
                credential_zero: true,
                flags: 0x212f_ffff,
            })
        );
    }

    #[test]
    fn impacket_petitpotam_names_the_unc_path() {
        let stub = impacket_stub("efsr_openfileraw.bin");
        for interface in [interfaces::EFSRPC, interfaces::EFSRPC_PIPE] {
            assert_eq!(
                decode_request(interface, 0, &stub, false),
                Some(RpcDetail::Callback { path: "\\\\10.99.0.21\\share\\file.txt".into() })
            );
        }
        for n in 0..stub.len() {
            let _ = decode_request(interfaces::EFSRPC, 0, &stub[..n], false);
        }
    }

    #[test]
    fn impacket_printnightmare_names_the_driver_files() {
        let stub = impacket_stub("rprn_addprinterdriverex.bin");
        assert_eq!(
            decode_request(interfaces::RPRN, 89, &stub, false),
            Some(RpcDetail::PrinterDriver {
                name: "Orthrus Lab Driver".into(),
                files: vec![
                    "C:\\Windows\\System32\\DriverStore\\FileRepository\\ntprint.inf_amd64\\Amd64\\UNIDRV.DLL".into(),
                    "\\\\10.99.0.21\\share\\evil.dll".into(),
                    "C:\\Windows\\System32\\winhttp.dll".into(),
                ],
                copy_flags: 0x8014,
            })
        );
        for n in 0..stub.len() {
            let _ = decode_request(interfaces::RPRN, 89, &stub[..n], false);
        }
        // MS-PAR's RpcAsyncAddPrinterDriver carries the same arguments.
        let par = impacket_stub("par_asyncaddprinterdriver.bin");
        assert_eq!(
            decode_request(interfaces::PAR, 39, &par, false),
            decode_request(interfaces::RPRN, 89, &stub, false)
        );
    }

    #[test]
    fn impacket_scheduled_tasks_name_their_command() {
        let task = decode_request(interfaces::TSCH, 1, &impacket_stub("tsch_registertask.bin"), false);
        assert_eq!(
            task,
            Some(RpcDetail::RegisterTask {
                path: Some("\\Updater".into()),
                command: Some("cmd.exe /C whoami > %windir%\\Temp\\out.tmp 2>&1".into()),
            })
        );
        let job = decode_request(interfaces::ATSVC, 0, &impacket_stub("atsvc_jobadd.bin"), false);
        assert_eq!(
            job,
            Some(RpcDetail::RegisterTask { path: None, command: Some("cmd.exe /c whoami".into()) })
        );
    }

    #[test]
    fn task_command_from_xml() {
        let xml = "<Task><Actions><Exec><Command>cmd.exe</Command><Arguments>/C whoami</Arguments></Exec></Actions></Task>";
        assert_eq!(task_command(xml).as_deref(), Some("cmd.exe /C whoami"));
        assert_eq!(task_command("<Task/>"), None);
    }
}
