//! Atomic file writes: every output is written to a temporary file beside
//! its destination and renamed over it only when complete, so a reader (or
//! a run that died mid-write) never sees half a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written; it appears at its destination on `commit`, and
/// the temporary file is removed if it is dropped uncommitted.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

/// The temporary name of `dest`: hidden, unique to this process.
fn temporary(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

impl AtomicFile {
    pub fn create(dest: &Path) -> std::io::Result<Self> {
        let tmp = temporary(dest);
        let file = File::create(&tmp).map_err(|e| with_path(e, &tmp))?;
        Ok(Self {
            dest: dest.to_path_buf(),
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Flush, sync and rename into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        let writer = self.writer.take().expect("not yet committed");
        let file = writer
            .into_inner()
            .map_err(|e| with_path(e.into_error(), &self.dest))?;
        file.sync_data().map_err(|e| with_path(e, &self.dest))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| with_path(e, &self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("open").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write(dest: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    write_with(dest, |w| w.write_all(bytes.as_ref()))
}

/// Write `dest` atomically with `fill`.
pub fn write_with(
    dest: &Path,
    fill: impl FnOnce(&mut AtomicFile) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    fill(&mut f)?;
    f.commit()
}

/// An I/O error that names the file, unless the error text already does.
/// (std's messages name no file; this keeps "disk full" errors findable.)
fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    let shown = path.display().to_string();
    if e.to_string().contains(&shown) {
        return e;
    }
    std::io::Error::new(e.kind(), format!("{shown}: {e}"))
}

/// An error and its causes as one line, each thing said once: a cause
/// already said (an I/O error repeated by the error that wraps it) is
/// left out, and so is a leading `PATH: ` a cause repeats after the
/// message naming that path ("cannot write P: P: No space left on device"
/// becomes "cannot write P: No space left on device").
pub fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let mut s = cause.to_string();
        while let Some((head, rest)) = s.split_once(": ") {
            let named = head.len() >= 4 && (head.contains('/') || head.contains('.'));
            if named && text.contains(head) {
                s = rest.to_string();
            } else {
                break;
            }
        }
        if s.is_empty() || text.contains(&s) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&s);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that repeats its source in its own message (as the png
    /// and gif encoders' I/O errors do).
    #[derive(Debug)]
    struct Repeats(std::io::Error);
    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "{}", self.0)
        }
    }
    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_full_disk_is_reported_with_its_path_and_error_once() {
        let path = Path::new("/data/run/frames/tumor_0003.png");
        let full = || with_path(std::io::Error::from_raw_os_error(28), path);
        let cases = [
            anyhow::Error::new(full()).context(format!("cannot write {}", path.display())),
            anyhow::Error::new(Repeats(full())).context(format!("cannot write {}", path.display())),
            anyhow::Error::new(Repeats(std::io::Error::from_raw_os_error(28)))
                .context(format!("cannot write {}", path.display())),
        ];
        for e in &cases {
            let text = describe(e);
            assert_eq!(text.matches("tumor_0003.png").count(), 1, "{text}");
            assert_eq!(text.matches("os error 28").count(), 1, "{text}");
            assert!(text.starts_with("cannot write /data/run"), "{text}");
            // What the command line printed before ({:#}): twice.
            let old = format!("{e:#}");
            assert!(
                old.matches("tumor_0003.png").count() == 2
                    || old.matches("os error 28").count() == 2,
                "{old}"
            );
        }
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_one_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.csv");
        std::fs::write(&dest, "old").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"new but unfinished").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write(&dest, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("missing-folder").join("x.png");
        let e = write(&dest, "x").unwrap_err().to_string();
        assert!(e.contains("missing-folder"), "{e}");
    }
}
