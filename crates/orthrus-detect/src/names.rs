//! How detections spell and compare the names of accounts and computers, and list them in
//! sentences. One home for each rule, so every detection compares names the same way.

use orthrus_model::{AccountRef, Activity};

/// An account name without its domain: `LAB\\bob`, `bob@lab.test` and `bob` are all `bob`
/// (how exclusion lists are compared).
pub fn bare_account(name: &str) -> &str {
    let name = name.rsplit('\\').next().unwrap_or(name);
    name.split('@').next().unwrap_or(name)
}

/// Whether an exclusion list names `account`, compared as bare names, case-insensitively.
pub fn lists_account(list: &[String], account: &str) -> bool {
    let bare = bare_account(account);
    list.iter().any(|a| bare_account(a).eq_ignore_ascii_case(bare))
}

/// Whether an exclusion list names an event's actor: by account name (as [`lists_account`])
/// or by SID (an exclusion written when the logs gave only the SID keeps working once they
/// name the account).
pub fn lists_actor(list: &[String], subject: &AccountRef) -> bool {
    (!subject.name.is_empty() && lists_account(list, &subject.name))
        || subject.sid.as_deref().is_some_and(|sid| list.iter().any(|a| a.trim().eq_ignore_ascii_case(sid)))
}

/// The key an actor's learned state is kept under: the SID when the event gives one (it
/// survives renames, and Samba's logs name some actors only by it), else the name.
pub fn actor_key(subject: &AccountRef) -> String {
    match subject.sid.as_deref().filter(|s| !s.is_empty()) {
        Some(sid) => sid.to_lowercase(),
        None => account_key(&subject.qualified()),
    }
}

/// Account names compare case-insensitively in AD; keep one spelling for state keys.
pub fn account_key(name: &str) -> String {
    name.to_lowercase()
}

/// `DC1.corp.example` and `DC1$` → `dc1`: how a computer is compared across events.
pub fn host_key(name: &str) -> String {
    let name = name.trim().trim_start_matches('\\');
    let short = name.split('.').next().unwrap_or(name);
    short.trim_end_matches('$').to_lowercase()
}

/// Who an event says acted: `DOMAIN\\name`, else its SID.
pub fn actor_name(subject: &AccountRef) -> String {
    if subject.name.is_empty() {
        subject.sid.clone().unwrap_or_else(|| "an unknown account".into())
    } else {
        subject.qualified()
    }
}

/// [`actor_name`], naming an actor the event gives only by SID (Samba's audit does) as the
/// directory knows it.
pub fn actor_in(subject: &AccountRef, directory: &orthrus_directory::Directory) -> String {
    match subject.sid.as_deref().filter(|_| subject.name.is_empty()) {
        Some(sid) => directory_name(sid, directory),
        None => actor_name(subject),
    }
}

/// An account named as the directory names it (`LAB\bob`) when it knows the name, DN or SID
/// given; else as given.
pub fn directory_name(name: &str, directory: &orthrus_directory::Directory) -> String {
    directory.find(name).map_or_else(|| name.to_owned(), |found| found.qualified_name())
}

/// Whether an account is Entra Connect's directory synchronisation account (`MSOL_…`), which
/// reads and writes what attackers do, by design.
pub fn is_entra_sync_account(name: &str) -> bool {
    bare_account(name).to_ascii_uppercase().starts_with("MSOL_")
}

/// Whether an event's actor is the computer's own: a machine account (`DC1$`), SYSTEM, LOCAL
/// SERVICE or NETWORK SERVICE, or none named — what Windows itself does all day (LSA answering
/// clients, services querying SAM), not a person.
pub fn is_own_account(subject: &AccountRef) -> bool {
    subject.name.is_empty()
        || subject.name == "-"
        || subject.name.ends_with('$')
        || subject.sid.as_deref().is_some_and(|sid| ["S-1-5-18", "S-1-5-19", "S-1-5-20"].contains(&sid))
}

/// Where an event was logged, for sentences.
pub fn logged_on(activity: &Activity) -> &str {
    activity.destination_host.as_deref().unwrap_or("a domain controller")
}

/// Lists up to `max` names, then "and N more".
pub fn name_list<'a>(names: impl IntoIterator<Item = &'a String>, max: usize) -> String {
    let names: Vec<&String> = names.into_iter().collect();
    let shown: Vec<&str> = names.iter().take(max).map(|s| s.as_str()).collect();
    let mut text = shown.join(", ");
    if names.len() > max {
        text.push_str(&format!(" and {} more", names.len() - max));
    }
    text
}

/// The host a UNC path or bare name points at (`\\10.0.0.5\share` → `10.0.0.5`): where a
/// coerced server is told to connect.
pub fn callback_host(path: &str) -> &str {
    path.trim_start_matches('\\').split('\\').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_in_every_form() {
        assert!(lists_account(&["LAB\\Bob".into()], "bob@lab.test"));
        assert!(!lists_account(&["LAB\\bob".into()], "bobby"));
        assert_eq!(host_key("\\\\DC1.corp.example"), "dc1");
        assert_eq!(host_key("DC1$"), "dc1");
        assert_eq!(callback_host("\\\\10.0.0.5\\share\\x"), "10.0.0.5");
        let names: Vec<String> = (1..=7).map(|i| format!("n{i}")).collect();
        assert_eq!(name_list(names.iter(), 5), "n1, n2, n3, n4, n5 and 2 more");
    }
}
