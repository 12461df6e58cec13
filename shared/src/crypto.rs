//! Secrets at rest: AES-256-GCM with a key from Secrets Manager. A sealed value is the
//! 12-byte random nonce followed by the ciphertext and tag. The associated data names
//! what the value is ("integration:<id>:secret"), so a ciphertext copied into another row
//! does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// The workspace-wide cipher for secrets stored in the database.
#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// A sealed value that does not open: wrong key, wrong context, or tampered bytes.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted")]
pub struct DecryptError;

impl Cipher {
    /// A cipher keyed by the SHA-256 of `key_material`, a high-entropy secret string
    /// (Secrets Manager generates 64 characters for it).
    pub fn from_key_material(key_material: &str) -> Self {
        let key = Sha256::digest(key_material.as_bytes());
        Self(Aes256Gcm::new(&key))
    }

    /// Encrypts `plaintext`, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption only fails for inputs beyond 64 GiB.
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// Decrypts what [`Cipher::seal`] produced for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| DecryptError)?;
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.0
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| DecryptError)
    }

    /// [`Cipher::open`] for text.
    pub fn open_text(&self, sealed: &[u8], context: &str) -> Result<String, DecryptError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let cipher = Cipher::from_key_material("a key");
        let sealed = cipher.seal(b"s3cr3t", "integration:1:secret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(
            cipher.open(&sealed, "integration:1:secret").unwrap(),
            b"s3cr3t"
        );
        assert!(cipher.open(&sealed, "integration:2:secret").is_err());
        assert!(
            Cipher::from_key_material("another key")
                .open(&sealed, "integration:1:secret")
                .is_err()
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open(&tampered, "integration:1:secret").is_err());
        assert_ne!(
            cipher.seal(b"s3cr3t", "c"),
            cipher.seal(b"s3cr3t", "c"),
            "fresh nonces"
        );
    }
}
