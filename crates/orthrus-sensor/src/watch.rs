//! The sensor's watched folder: capture files and event logs dropped into it are read once,
//! their activities kept in the disk buffer, and the files moved to `done/` (or `failed/`).
//!
//! The sensor often runs as root, and whoever may write the folder must not make it read
//! anything else: only regular files are read, never through a link. Each file is first moved
//! (renamed, which moves the directory entry itself, never what a link points to) into a
//! staging folder only the sensor may write, and checked there: a symbolic link, a device, a
//! pipe, or a hard link to a file elsewhere is moved to `refused/` unread, and the center's
//! health shows an issue while `refused/` holds anything. Once staged, nobody else can swap
//! the file.
//!
//! A file is known by its content (SHA-256), not its name: a capture ring (`tcpdump -W`)
//! reuses names for new traffic, and each new content is read; the same content dropped again
//! is not read twice. Names in `done/`, `failed/` and `refused/` are made unique, so nothing
//! there is overwritten.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use orthrus_model::Activity;

use crate::report::{SensorError, SensorEvent, io};
use crate::spool::Spool;

/// Where files wait while they are read: only the sensor may write it.
const STAGING: &str = ".orthrus-reading";
/// Copies of one name kept in `done/` (and the other folders) at most: a ring of captures
/// reusing names thousands of times should be rotated out by the operator long before.
const MAX_COPIES: u32 = 100_000;

/// The watched folder, prepared: `done/`, `failed/`, `refused/` and the staging folder exist.
pub struct WatchedFolder {
    root: PathBuf,
    staging: PathBuf,
}

impl WatchedFolder {
    pub fn prepare(root: &Path) -> Result<Self, SensorError> {
        for folder in ["done", "failed", "refused"] {
            std::fs::create_dir_all(root.join(folder)).map_err(io("creating", &root.join(folder)))?;
        }
        let staging = root.join(STAGING);
        match std::fs::DirBuilder::new().mode(0o700).create(&staging) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io("creating", &staging)(error)),
        }
        // Someone who may write the folder could have made it first, or as a link elsewhere.
        let metadata = std::fs::symlink_metadata(&staging).map_err(io("checking", &staging))?;
        let ours = metadata.uid() == rustix::process::geteuid().as_raw();
        if !metadata.is_dir() || !ours || metadata.permissions().mode() & 0o022 != 0 {
            return Err(SensorError::Config(format!(
                "{}: not a folder of this sensor's user that only it may write; remove it and start again",
                staging.display()
            )));
        }
        Ok(Self { root: root.to_owned(), staging })
    }

    /// Reads what is new: first what a stopped sensor left staged, then the folder's files,
    /// oldest name first.
    pub fn sweep(
        &self,
        spool: &mut Spool,
        batch_activities: usize,
        keep: &mut dyn FnMut(Vec<Activity>) -> Vec<Activity>,
        report: &mut dyn FnMut(SensorEvent<'_>),
    ) -> Result<(), SensorError> {
        for name in names_in(&self.staging)? {
            self.read_staged(&name, spool, batch_activities, keep, report)?;
        }
        for name in names_in(&self.root)? {
            let path = self.root.join(&name);
            let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
            if metadata.is_dir() {
                continue;
            }
            if !metadata.is_file() {
                self.refuse(&path, &name, kind_of(&metadata), report)?;
                continue;
            }
            match std::fs::rename(&path, self.staging.join(&name)) {
                Ok(()) => self.read_staged(&name, spool, batch_activities, keep, report)?,
                // Gone meanwhile (its writer took it back): nothing to read.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io("moving", &path)(error)),
            }
        }
        Ok(())
    }

    /// Files waiting in `refused/` for someone to look at them (and remove them).
    pub fn refused_waiting(&self) -> u64 {
        std::fs::read_dir(self.root.join("refused")).map_or(0, |entries| entries.count() as u64)
    }

    fn read_staged(
        &self,
        name: &str,
        spool: &mut Spool,
        batch_activities: usize,
        keep: &mut dyn FnMut(Vec<Activity>) -> Vec<Activity>,
        report: &mut dyn FnMut(SensorEvent<'_>),
    ) -> Result<(), SensorError> {
        let staged = self.staging.join(name);
        // What was renamed may have been swapped for a link between the look and the move.
        let metadata = std::fs::symlink_metadata(&staged).map_err(io("checking", &staged))?;
        if !metadata.is_file() {
            return self.refuse(&staged, name, kind_of(&metadata), report);
        }
        if metadata.nlink() > 1 {
            return self.refuse(&staged, name, "a hard link to a file elsewhere", report);
        }
        let identity = content_identity(&staged)?;
        if !spool.has_file(&identity)? {
            let mut activities: Vec<Activity> = Vec::new();
            let run = orthrus_timeline::decode_files(
                std::slice::from_ref(&staged),
                &orthrus_timeline::NoProgress,
                &mut |a| activities.push(a),
            );
            if run.failed_files > 0 {
                report(SensorEvent::FileFailed(name));
                return move_unique(&staged, &self.root.join("failed"), name);
            }
            spool.append_file(&identity, &keep(activities), batch_activities)?;
        }
        move_unique(&staged, &self.root.join("done"), name)
    }

    fn refuse(
        &self,
        path: &Path,
        name: &str,
        why: &str,
        report: &mut dyn FnMut(SensorEvent<'_>),
    ) -> Result<(), SensorError> {
        report(SensorEvent::FileRefused { name, why });
        move_unique(path, &self.root.join("refused"), name)
    }
}

/// The names of a folder's entries, sorted; hidden ones (a leading `.`: editors' and copy
/// tools' temporary files, the staging folder) left out.
fn names_in(folder: &Path) -> Result<Vec<String>, SensorError> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map_err(io("reading", folder))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = metadata.file_type();
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// `sha256:` and the content's SHA-256 in hex.
fn content_identity(path: &Path) -> Result<String, SensorError> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io("reading", path))?;
        if read == 0 {
            break;
        }
        context.update(buffer.get(..read).unwrap_or_default());
    }
    let digest = context.finish();
    Ok(format!("sha256:{}", digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Moves `path` into `folder` under `name`, or `stem.N.ext` when that is taken; never over
/// what is there (the kernel refuses a rename onto a taken name, so no race can overwrite).
fn move_unique(path: &Path, folder: &Path, name: &str) -> Result<(), SensorError> {
    for copy in 0..MAX_COPIES {
        let candidate = match copy {
            0 => name.to_owned(),
            n => match name.rsplit_once('.') {
                Some((stem, extension)) if !stem.is_empty() => format!("{stem}.{n}.{extension}"),
                _ => format!("{name}.{n}"),
            },
        };
        let target = folder.join(&candidate);
        let cwd = rustix::fs::CWD;
        match rustix::fs::renameat_with(cwd, path, cwd, &target, rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(errno) => return Err(io("moving", path)(errno.into())),
        }
    }
    Err(SensorError::Config(format!(
        "{}: {MAX_COPIES} files named {name} already; rotate the folder out",
        folder.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_taken_gets_a_number_before_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["dc.pcap0", "dc.pcap0", "dc.pcap0", "notes"] {
            let source = dir.path().join("incoming");
            std::fs::write(&source, name).unwrap();
            move_unique(&source, dir.path(), name).unwrap();
        }
        let mut names = names_in(dir.path()).unwrap();
        names.sort();
        assert_eq!(names, ["dc.1.pcap0", "dc.2.pcap0", "dc.pcap0", "notes"]);
    }

    #[test]
    fn the_same_content_is_one_identity_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        std::fs::write(&a, b"traffic").unwrap();
        std::fs::write(&b, b"traffic").unwrap();
        std::fs::write(&c, b"other traffic").unwrap();
        let identity = content_identity(&a).unwrap();
        assert_eq!(identity, content_identity(&b).unwrap());
        assert_ne!(identity, content_identity(&c).unwrap());
        assert_eq!(identity.len(), "sha256:".len() + 64);
    }
}
