//! Ticket codes: 120 random bits in base32 (24 letters and digits), the fallback a
//! door clerk types when a QR code will not scan. Unguessable, so knowing one
//! ticket's code says nothing about another's.
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh code, as stored.
pub fn new_code() -> String {
    let mut bytes = [0u8; 15];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// A typed code as stored: case, spaces and dashes ignored; `None` if it cannot be a
/// code at all.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 24 && BASE32_NOPAD.decode(code.as_bytes()).is_ok()).then_some(code)
}

/// The code as printed: groups of four.
pub fn display(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// What an offline list carries instead of the code.
pub fn digest(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_fresh_and_read_back_however_typed() {
        let a = new_code();
        assert_eq!(a.len(), 24);
        assert_ne!(a, new_code());
        let printed = display(&a);
        assert_eq!(printed.len(), 29);
        assert_eq!(
            normalize(&printed.to_lowercase()).as_deref(),
            Some(a.as_str())
        );
        assert_eq!(normalize("not a code"), None);
        assert_eq!(normalize(&a[..20]), None);
        assert_eq!(digest(&a).len(), 64);
    }
}
