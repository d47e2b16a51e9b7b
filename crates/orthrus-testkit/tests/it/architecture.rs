//! The source tree keeps the shape ARCHITECTURE.md promises: no source file over 800 lines,
//! and no two files of a crate importing each other, directly or around a circle.
//!
//! Imports are read from the text: every `crate::…`, `super::…` and `self::…` path (in `use`
//! trees too) is resolved to the file of the deepest module it names. References to a crate's
//! root (lib.rs, main.rs) are left out: the root re-exports its modules' types, which its
//! modules then name through it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed, in lines.
const MAX_LINES: usize = 800;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut files = Vec::new();
    for dir in ["crates", "fuzz/fuzz_targets"] {
        sources(&workspace().join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}

/// The code without its `#[cfg(test)]` items: tests may reach anywhere in their crate.
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at its block's closing brace, or at `;` for an item without a block.
        let (Some(open), semi) = (after.find('{'), after.find(';')) else { return out };
        if semi.is_some_and(|s| s < open) {
            rest = &after[semi.unwrap_or(0) + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The text of a source file without comments and string literals (so paths in prose or
/// strings are not taken for imports).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < bytes.len() && !(bytes[i] == '*' && bytes[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                i += if bytes[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == 'r' && next == Some('#') && bytes.get(i + 2) == Some(&'"') {
            i += 3;
            while i + 1 < bytes.len() && !(bytes[i] == '"' && bytes[i + 1] == '#') {
                i += 1;
            }
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The module path of a source file of a crate (`detections/kerberos/mod.rs` → `detections::kerberos`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The paths a piece of code names from `start` on (`crate::a::{b::C, d}` → `a::b::C`, `a::d`).
fn expand_tree(code: &[char], start: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    let mut segment = String::new();
    let mut i = start;
    while i < code.len() {
        let c = code[i];
        if c.is_alphanumeric() || c == '_' {
            segment.push(c);
            i += 1;
        } else if c == ':' && code.get(i + 1) == Some(&':') {
            path.push(std::mem::take(&mut segment));
            i += 2;
        } else if c == '{' {
            // A use tree: each comma-separated item extends the path so far.
            i += 1;
            loop {
                while i < code.len() && code[i].is_whitespace() {
                    i += 1;
                }
                if i >= code.len() || code[i] == '}' {
                    return i + 1;
                }
                i = expand_tree(code, i, path.clone(), out);
                while i < code.len() && (code[i].is_whitespace() || code[i] == ',') {
                    i += 1;
                }
            }
        } else if c.is_whitespace() && segment.is_empty() && path.is_empty() {
            i += 1;
        } else {
            break;
        }
    }
    if !segment.is_empty() {
        path.push(segment);
    }
    out.push(path);
    // Stop at the end of an item of a use tree, leaving `,` and `}` to the caller.
    while i < code.len() && !matches!(code[i], ',' | '}' | ';') && !code[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The module paths (from the crate root) a file's code names.
fn imports(code: &str, module: &[String], is_dir_module: bool) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary =
            i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        let (base, skip): (Vec<String>, usize) = if boundary && rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if boundary && rest.starts_with("super::") {
            // `super` of a file module is its parent; of a directory module (mod.rs) its parent too.
            let mut base = module.to_vec();
            let _ = is_dir_module;
            base.pop();
            (base, 7)
        } else if boundary && rest.starts_with("self::") {
            (module.to_vec(), 6)
        } else {
            i += 1;
            continue;
        };
        let mut found = Vec::new();
        let end = expand_tree(&chars, i + skip, Vec::new(), &mut found);
        for path in found {
            let mut full = base.clone();
            for segment in path {
                if segment == "super" {
                    full.pop();
                } else if !segment.is_empty() && segment != "self" {
                    full.push(segment);
                }
            }
            out.push(full);
        }
        i = end.max(i + 1);
    }
    out
}

#[test]
fn no_source_files_import_each_other_in_a_circle() {
    let crates = workspace().join("crates");
    let mut circles = Vec::new();
    let mut crate_count = 0;
    for entry in std::fs::read_dir(&crates).unwrap().flatten() {
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        crate_count += 1;
        let mut files = Vec::new();
        sources(&src, &mut files);
        // Module path → file, for resolving a path to the deepest module that is a file.
        let modules: BTreeMap<Vec<String>, PathBuf> =
            files.iter().map(|f| (module_of(&src, f), f.clone())).collect();
        let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for file in &files {
            let module = module_of(&src, file);
            let is_dir_module = file.file_name().is_some_and(|n| n == "mod.rs");
            let code = without_tests(&code_of(&std::fs::read_to_string(file).unwrap()));
            for path in imports(&code, &module, is_dir_module) {
                let target = (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]));
                if let Some(target) = target
                    && target != file
                    && !module_of(&src, target).is_empty()
                {
                    edges.entry(file.clone()).or_default().insert(target.clone());
                }
            }
        }
        // A circle: a file that reaches itself through others.
        for start in edges.keys() {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<(PathBuf, Vec<PathBuf>)> = vec![(start.clone(), vec![start.clone()])];
            while let Some((node, trail)) = stack.pop() {
                for next in edges.get(&node).into_iter().flatten() {
                    if next == start {
                        let names: Vec<String> = trail
                            .iter()
                            .map(|p| p.strip_prefix(&crates).unwrap_or(p).display().to_string())
                            .collect();
                        circles.push(names.join(" → "));
                    } else if seen.insert(next.clone()) {
                        let mut longer = trail.clone();
                        longer.push(next.clone());
                        stack.push((next.clone(), longer));
                    }
                }
            }
        }
    }
    assert!(crate_count >= 10, "found only {crate_count} crates");
    circles.sort();
    circles.dedup();
    assert!(circles.is_empty(), "files importing each other in a circle:\n{}", circles.join("\n"));
}

#[test]
fn imports_are_read_from_use_trees_and_paths() {
    let module = vec!["detections".to_owned(), "kerberos".to_owned(), "kerberoasting".to_owned()];
    let code = code_of(
        "use crate::{window::{Incidents, Recent}, names::name_list};\n\
         use super::tgs_exchange; // crate::not::this\n\
         let x = \"crate::nor::this\"; crate::context::Context::new();",
    );
    let found = imports(&code, &module, false);
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "window::Incidents",
            "window::Recent",
            "names::name_list",
            "detections::kerberos::tgs_exchange",
            "context::Context::new",
        ]
    );
}
