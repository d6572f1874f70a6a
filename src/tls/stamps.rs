//! Noticing replaced files. A config built from paths remembers a stamp of
//! each file (device, inode, size, modification and change times) taken
//! just before reading it; when any stamp differs on reuse, the config is
//! built again, so a renamed-over or rewritten certificate, key, CA file
//! (or any other file an option names, see `TlsOptions::paths`) is never
//! served stale.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What identifies one version of a file; `None` when it cannot be read.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// Stamps of a set of files, taken at one moment.
#[derive(Debug, Clone, Default)]
pub struct FileStamps(Vec<(PathBuf, Stamp)>);

impl FileStamps {
    /// Stamps `paths` now (take them before reading the files: a change
    /// in between is then noticed next time).
    pub fn take(paths: Vec<PathBuf>) -> Self {
        Self(
            paths
                .into_iter()
                .map(|p| {
                    let s = stamp(&p);
                    (p, s)
                })
                .collect(),
        )
    }

    /// Whether any of the files differs from its stamp.
    pub fn changed(&self) -> bool {
        self.0.iter().any(|(p, s)| stamp(p) != *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_rewrite_rename_and_removal() {
        let dir = std::env::temp_dir().join(format!("lua-tls-stamps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.pem");
        std::fs::write(&a, "one").unwrap();
        let s = FileStamps::take(vec![a.clone()]);
        assert!(!s.changed());
        std::fs::write(&a, "two!").unwrap();
        assert!(s.changed());
        let s = FileStamps::take(vec![a.clone()]);
        let b = dir.join("b.pem");
        std::fs::write(&b, "two!").unwrap();
        std::fs::rename(&b, &a).unwrap();
        assert!(s.changed());
        let s = FileStamps::take(vec![a.clone()]);
        std::fs::remove_file(&a).unwrap();
        assert!(s.changed());
        let gone = FileStamps::take(vec![a.clone()]);
        assert!(!gone.changed());
        assert!(!FileStamps::default().changed());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
