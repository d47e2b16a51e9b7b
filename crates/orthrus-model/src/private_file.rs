//! Files that hold credentials or tenants' data (the center's store, the sensor's spool) are
//! readable by their owner only. SQLite creates its `-wal` and `-shm` files with the mode of
//! the database file, so a database made private before SQLite opens it stays private whole.

use std::io;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Creates `path` empty with mode 0600 when it does not exist, and takes group and other
/// permissions away from it and its SQLite companions (`-wal`, `-shm`, `-journal`) when they
/// exist. Returns the files whose permissions it narrowed (made by an older version, or by
/// hand), for the caller to say so.
pub fn keep_private(path: &Path) -> io::Result<Vec<PathBuf>> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let mut narrowed = Vec::new();
    let companions = ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    });
    for file in std::iter::once(path.to_path_buf()).chain(companions) {
        let metadata = match std::fs::metadata(&file) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))?;
            narrowed.push(file);
        }
    }
    Ok(narrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_private_and_an_old_one_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        assert!(keep_private(&new).unwrap().is_empty());
        assert_eq!(mode(&new), 0o600);

        let old = dir.path().join("old.db");
        let wal = dir.path().join("old.db-wal");
        for file in [&old, &wal] {
            std::fs::write(file, b"").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert_eq!(keep_private(&old).unwrap(), [old.clone(), wal.clone()]);
        assert_eq!((mode(&old), mode(&wal)), (0o600, 0o600));
        assert!(keep_private(&old).unwrap().is_empty(), "nothing more to narrow");
    }
}
