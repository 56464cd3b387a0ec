//! The data folder: made the owner's only (0700, files 0600), held by one runtime at a time
//! (an exclusive lock on `lock`), with the key that signs file URLs and the admin token.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An open data folder; the lock is held while this lives.
#[derive(Debug)]
pub struct DataDir {
    /// The folder.
    pub path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Opens (creating it if needed) and locks the folder; a second runtime on the same
    /// folder is refused with a message that says so.
    pub fn open(path: &Path) -> Result<DataDir, String> {
        for dir in [path.to_path_buf(), path.join("blobs"), path.join("logs")] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // A folder made before (or by hand) becomes the owner's only too.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {} private: {e}", path.display()))?;
        let lock_path = path.join("lock");
        let lock = private_file(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another oaas runtime (`oaasc serve` or `oaasc run`) is using the data folder {}; stop it, or give this one another folder with --data",
                    path.display()
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", lock_path.display())),
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The key that signs file URLs: read, or made on first start.
    pub fn secret(&self) -> Result<Vec<u8>, String> {
        let path = self.path.join("secret.key");
        if let Ok(s) = std::fs::read(&path) {
            if s.len() >= 32 {
                return Ok(s);
            }
        }
        let mut s = vec![0u8; 64];
        getrandom::fill(&mut s).map_err(|e| format!("cannot make the signing key: {e}"))?;
        write_private(&path, &s).map_err(|e| format!("cannot write the signing key: {e}"))?;
        Ok(s)
    }

    /// The admin token: `given` when set, else the one in the file `token`, made on first
    /// start. Answers the token and where it is kept (when it is in the folder).
    pub fn admin_token(&self, given: Option<&str>) -> Result<(String, Option<PathBuf>), String> {
        if let Some(t) = given.filter(|t| !t.trim().is_empty()) {
            return Ok((t.trim().to_string(), None));
        }
        let path = self.path.join("token");
        if let Ok(t) = std::fs::read_to_string(&path) {
            if !t.trim().is_empty() {
                return Ok((t.trim().to_string(), Some(path)));
            }
        }
        let token = crate::tokens::new_secret()?;
        write_private(&path, format!("{token}\n").as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok((token, Some(path)))
    }
}

/// Opens (creating) a file that only its owner may read or write.
fn private_file(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a file the owner's only, if it exists.
pub fn make_private(path: &Path) {
    if path.exists() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_folder_is_private_locked_and_keeps_its_token() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        let dir = DataDir::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        let second = DataDir::open(&path).unwrap_err();
        assert!(second.contains("another oaas runtime"), "{second}");
        let (token, file) = dir.admin_token(None).unwrap();
        assert_eq!(mode(file.as_ref().unwrap()), 0o600);
        assert_eq!(
            dir.admin_token(None).unwrap().0,
            token,
            "kept across starts"
        );
        assert_eq!(
            dir.admin_token(Some("given")).unwrap(),
            ("given".to_string(), None)
        );
        dir.secret().unwrap();
        assert_eq!(mode(&path.join("secret.key")), 0o600);
        drop(dir);
        assert!(
            DataDir::open(&path).is_ok(),
            "the lock goes with the runtime"
        );
    }
}
