//! `ios:info()`: a [`TlsInfo`] as the Lua table of the contract, with the
//! fields libtls reports (version, cipher, cipher strength, ALPN, server
//! name, resumption, peer certificate subject/issuer/dates/hash/chain).

use mlua::{Lua, Table};

use super::provider::sha256;
use super::x509;
use crate::stream::transport::TlsInfo;

/// The `ios:info()` table. `peer` is absent when the peer sent no certificate.
pub fn info_table(lua: &Lua, info: &TlsInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("version", info.version.as_deref())?;
    t.set("cipher", info.cipher.as_deref())?;
    t.set(
        "cipher_strength",
        info.cipher.as_deref().and_then(cipher_strength),
    )?;
    t.set("alpn", info.alpn.as_deref())?;
    t.set("servername", info.servername.as_deref())?;
    t.set("resumed", info.resumed)?;
    if !info.peer_chain.is_empty() {
        t.set("peer", peer_table(lua, &info.peer_chain)?)?;
    }
    if let Some(ocsp) = &info.ocsp {
        t.set("ocsp", super::ocsp::status_table(lua, ocsp)?)?;
    }
    t.set("ocsp_error", info.ocsp_error.as_deref())?;
    Ok(t)
}

/// The `peer` table for a chain (end entity first). Fields that cannot be
/// parsed from a malformed certificate are left out; hash and PEM remain.
/// An empty chain gives an empty table.
pub fn peer_table(lua: &Lua, chain: &[Vec<u8>]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let Some(leaf) = chain.first() else {
        return Ok(t);
    };
    if let Ok(f) = x509::parse(leaf) {
        t.set("subject", f.subject)?;
        t.set("issuer", f.issuer)?;
        t.set("common_name", f.common_name)?;
        t.set("notbefore", f.not_before)?;
        t.set("notafter", f.not_after)?;
        t.set("serial", f.serial)?;
        t.set("names", lua.create_sequence_from(f.names)?)?;
    }
    t.set("hash", cert_hash(leaf))?;
    t.set("chain_pem", chain_pem(chain))?;
    Ok(t)
}

/// `SHA256:<lowercase hex>` of the DER, as libtls's `tls_peer_cert_hash`.
pub fn cert_hash(der: &[u8]) -> String {
    let hex: String = sha256(der).iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

/// The chain as concatenated PEM CERTIFICATE blocks.
pub fn chain_pem(chain: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for der in chain {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64(der);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// Key bits of the bulk cipher, read off the IANA suite name.
fn cipher_strength(cipher: &str) -> Option<u32> {
    if cipher.contains("AES_128") {
        Some(128)
    } else if cipher.contains("AES_256") || cipher.contains("CHACHA20") {
        Some(256)
    } else {
        None
    }
}

/// Standard base64 with padding (RFC 4648), for PEM.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::{cert_der, text};

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn chain_pem_round_trips_the_fixture() {
        assert_eq!(chain_pem(&[cert_der("server")]), text("server.pem"));
    }

    #[test]
    fn hash_matches_openssl_fingerprint() {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(crate::tls::testutil::path("server.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let want = text
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase();
        assert_eq!(cert_hash(&cert_der("server")), format!("SHA256:{want}"));
    }

    #[test]
    fn info_table_fields() {
        let lua = Lua::new();
        let info = TlsInfo {
            version: Some("TLSv1.3".into()),
            cipher: Some("TLS_AES_256_GCM_SHA384".into()),
            alpn: Some("h2".into()),
            servername: Some("localhost".into()),
            resumed: true,
            peer_chain: vec![cert_der("server"), cert_der("ca")],
            ..TlsInfo::default()
        };
        let t = info_table(&lua, &info).unwrap();
        assert_eq!(t.get::<String>("version").unwrap(), "TLSv1.3");
        assert_eq!(t.get::<u32>("cipher_strength").unwrap(), 256);
        assert_eq!(t.get::<String>("alpn").unwrap(), "h2");
        assert!(t.get::<bool>("resumed").unwrap());
        let peer: Table = t.get("peer").unwrap();
        assert_eq!(
            peer.get::<String>("subject").unwrap(),
            "/O=lua-tls tests/CN=localhost"
        );
        assert_eq!(
            peer.get::<String>("issuer").unwrap(),
            "/O=lua-tls tests/CN=lua-tls Test CA"
        );
        assert!(peer.get::<i64>("notafter").unwrap() > peer.get::<i64>("notbefore").unwrap());
        assert!(peer.get::<String>("hash").unwrap().starts_with("SHA256:"));
        assert_eq!(
            peer.get::<String>("chain_pem").unwrap(),
            text("server.pem") + &text("ca.pem")
        );
        assert_eq!(
            peer.get::<Table>("names")
                .unwrap()
                .get::<String>(3)
                .unwrap(),
            "::1"
        );

        let junk = peer_table(&lua, &[b"not a certificate".to_vec()]).unwrap();
        assert!(junk.get::<Option<String>>("subject").unwrap().is_none());
        assert!(junk.get::<String>("hash").unwrap().starts_with("SHA256:"));
        assert!(peer_table(&lua, &[]).unwrap().is_empty());

        let bare = info_table(&lua, &TlsInfo::default()).unwrap();
        assert!(bare.get::<Option<Table>>("peer").unwrap().is_none());
        assert!(!bare.get::<bool>("resumed").unwrap());
    }
}
