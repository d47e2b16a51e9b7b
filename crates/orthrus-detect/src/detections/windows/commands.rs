//! What a command line or image path of a service, task or process says: the shapes attack
//! tools leave (interpreters, loopback and admin shares, named-pipe echo, temp folders,
//! random names in the Windows folder) and the folders only users write to.

/// Why a command line or image path looks like an attack tool's, or `None`. Patterns are
/// data: interpreters and script hosts, loopback/admin-share paths, named-pipe echo
/// (meterpreter getsystem), output redirected to a temp file (impacket atexec/smbexec),
/// remote-execution services and credential tools by name, and random mixed-case binaries in
/// the Windows folder (impacket psexec, Metasploit).
pub fn suspicious_command(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    const TOOLS: &[(&str, &str)] = &[
        ("psexesvc", "PsExec service"),
        ("remcomsvc", "RemCom service"),
        ("paexec", "PAExec service"),
        ("csexec", "CSExec service"),
        ("winexesvc", "winexe service"),
        ("mimidrv", "mimikatz driver"),
        ("mimikatz", "mimikatz"),
        ("wceservice", "Windows Credentials Editor"),
        ("gsecdump", "gsecdump"),
        ("pwdump", "pwdump"),
        ("fgdump", "fgdump"),
    ];
    const SHAPES: &[(&str, &str)] = &[
        ("\\\\.\\pipe\\", "echoes into a named pipe (token theft)"),
        ("\\\\127.0.0.1\\", "runs from a loopback share"),
        ("\\\\localhost\\", "runs from a loopback share"),
        ("admin$\\", "runs from the ADMIN$ share"),
        ("%comspec%", "runs a command interpreter"),
        ("cmd.exe", "runs a command interpreter"),
        ("cmd /c", "runs a command interpreter"),
        ("powershell", "runs PowerShell"),
        ("pwsh", "runs PowerShell"),
        ("mshta", "runs a script host"),
        ("wscript", "runs a script host"),
        ("cscript", "runs a script host"),
        ("rundll32", "runs rundll32"),
        ("regsvr32", "runs regsvr32"),
        ("\\windows\\temp\\", "runs from the Windows temp folder"),
        ("%windir%\\temp\\", "runs from the Windows temp folder"),
    ];
    if let Some((_, why)) = TOOLS.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some(why);
    }
    if let Some((_, why)) = SHAPES.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some(why);
    }
    random_windows_binary(text).then_some("runs a randomly named binary from the Windows folder")
}

/// `%SYSTEMROOT%\duKhLYUX.exe`: an executable directly in the Windows folder whose name mixes
/// case the way generated names do (`Sysmon.exe` does not).
fn random_windows_binary(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["%systemroot%\\", "%windir%\\", "c:\\windows\\"].iter().any(|root| {
        lower.match_indices(root).any(|(at, _)| {
            let start = at + root.len();
            let end =
                text.get(start..).and_then(|r| r.find(['"', ' ', '\\'])).map_or(text.len(), |e| start + e);
            let file = text.get(start..end).unwrap_or_default();
            let Some(stem) = file.strip_suffix(".exe").or_else(|| file.strip_suffix(".EXE")) else {
                return false;
            };
            let inner_upper = stem.chars().skip(1).filter(char::is_ascii_uppercase).count();
            let lower_count = stem.chars().filter(char::is_ascii_lowercase).count();
            stem.len() >= 4
                && stem.chars().all(|c| c.is_ascii_alphabetic())
                && inner_upper >= 2
                && lower_count >= 2
        })
    })
}

/// Paths only users can write to: a service binary there is suspicious on a DC.
pub fn user_writable(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["\\users\\", "\\appdata\\", "\\temp\\", "\\programdata\\", "\\perflogs\\"]
        .iter()
        .any(|dir| lower.contains(dir))
        && !lower.contains("\\microsoft\\windows defender\\")
}
