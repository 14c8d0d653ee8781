//! Key material: the JWT signing secret and the master key that encrypts api-key signing secrets at rest
//! (AES-256-GCM). In development both are generated once into the data directory (0600 files); in
//! production they come from configuration only.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// Reads `path`, or creates it with `make()` and mode 0600.
pub(crate) fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if path.exists() {
        return Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string());
    }
    let value = make();
    write_private(path, &value)?;
    Ok(value)
}

/// Writes a file only the owner can read.
pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Encrypts and decrypts api-key signing secrets.
#[derive(Clone)]
pub(crate) struct SecretCipher {
    cipher: Aes256Gcm,
}

impl SecretCipher {
    /// From 64 hex characters (32 bytes).
    pub(crate) fn from_hex(key_hex: &str) -> anyhow::Result<SecretCipher> {
        let key = hex::decode(key_hex.trim()).context("the master key must be hex")?;
        if key.len() != 32 {
            bail!(
                "the master key must be 32 bytes (64 hex characters), got {} bytes",
                key.len()
            );
        }
        let cipher = Aes256Gcm::new_from_slice(&key).context("master key")?;
        Ok(SecretCipher { cipher })
    }

    /// `v1:` + base64(nonce || ciphertext+tag).
    pub(crate) fn encrypt(&self, plaintext: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    pub(crate) fn decrypt(&self, stored: &str) -> anyhow::Result<String> {
        let raw = stored
            .strip_prefix("v1:")
            .context("unknown secret format")?;
        let bytes = STANDARD.decode(raw).context("secret is not base64")?;
        if bytes.len() < 12 + 16 {
            bail!("secret ciphertext is truncated");
        }
        let (nonce, ct) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().context("nonce")?;
        let pt = self
            .cipher
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| anyhow::anyhow!("secret does not decrypt with this master key"))?;
        String::from_utf8(pt).context("secret is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_wrong_keys_fail() {
        let c = SecretCipher::from_hex(&"11".repeat(32)).expect("key");
        let ct = c.encrypt("dbps_abc").expect("enc");
        assert_ne!(ct, c.encrypt("dbps_abc").expect("enc"), "random nonce");
        assert_eq!(c.decrypt(&ct).expect("dec"), "dbps_abc");
        let other = SecretCipher::from_hex(&"22".repeat(32)).expect("key");
        assert!(other.decrypt(&ct).is_err());
        assert!(SecretCipher::from_hex("abcd").is_err());
    }

    #[test]
    fn generated_files_are_private_and_stable() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("k");
        let a = load_or_create(&p, || random_hex(32)).expect("create");
        let b = load_or_create(&p, || "other".into()).expect("read");
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
