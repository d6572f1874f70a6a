//! Test fixtures: the certificate matrix from `scripts/gen-certs.sh`,
//! generated once per test process into a shared directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The directory holding the test certificates, generating them if needed.
pub(crate) fn certs_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Shared across runs: the script is idempotent and takes a lock.
        let dir = std::env::temp_dir().join("lua-tls-test-certs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-certs.sh");
        let status = Command::new("sh")
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("run gen-certs.sh");
        assert!(status.success(), "gen-certs.sh failed");
        dir
    })
}

/// Path of a fixture file such as `server.pem` or `server.key`.
pub(crate) fn path(file: &str) -> PathBuf {
    certs_dir().join(file)
}

/// Text of a fixture file.
pub(crate) fn text(file: &str) -> String {
    std::fs::read_to_string(path(file)).expect("read fixture")
}

/// The DER of certificate `NAME.pem`.
pub(crate) fn cert_der(name: &str) -> Vec<u8> {
    let p = path(&format!("{name}.pem"));
    CertificateDer::from_pem_file(&p)
        .expect("fixture certificate")
        .to_vec()
}

/// Path of a revocation fixture from `scripts/gen-revocation.sh` (CRLs,
/// OCSP responses and their certificates). Made once a day per version of
/// the script (a changed script, which may number certificates
/// differently, makes its own set): generated aside, then renamed into
/// place, so concurrent test processes agree.
pub(crate) fn revocation_path(file: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let day = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-revocation.sh");
        // FNV-1a of the script's text names its version.
        let text = std::fs::read(&script).expect("read gen-revocation.sh");
        let version = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let dir = std::env::temp_dir().join(format!("lua-tls-revocation-{day}-{version:016x}"));
        if dir.join("good.ocsp").exists() {
            return dir;
        }
        let aside = std::env::temp_dir().join(format!("lua-tls-revocation-{}", std::process::id()));
        let status = Command::new("sh")
            .arg(&script)
            .arg(&aside)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run gen-revocation.sh");
        assert!(status.success(), "gen-revocation.sh failed");
        if std::fs::rename(&aside, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&aside); // another process won
        }
        dir
    });
    dir.join(file)
}
