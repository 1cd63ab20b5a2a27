//! The JWS compact form (RFC 7515) with `alg: EdDSA` (RFC 8037): the token format
//! every JOSE library already verifies, so an edge needs no code of ours.
use super::VerifyError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

/// Longest token accepted, so a huge header cannot cost a decode.
const MAX_TOKEN: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    pub alg: String,
    pub kid: String,
    pub typ: String,
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| VerifyError::Malformed)
}

pub(super) fn sign(key: &SigningKey, kid: &str, typ: &str, payload: &[u8]) -> String {
    let header = JwsHeader {
        alg: "EdDSA".into(),
        kid: kid.into(),
        typ: typ.into(),
    };
    let header = serde_json::to_vec(&header).expect("a header serializes");
    let mut token = format!("{}.{}", b64url(&header), b64url(payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url(&signature.to_bytes()));
    token
}

pub(super) struct Parts<'a> {
    pub header: JwsHeader,
    pub payload: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    pub signed: &'a [u8],
    pub signature: Vec<u8>,
}

pub(super) fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN {
        return Err(VerifyError::Malformed);
    }
    let (signed, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(VerifyError::Malformed)?;
    let header: JwsHeader =
        serde_json::from_slice(&b64url_decode(header)?).map_err(|_| VerifyError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(VerifyError::Malformed);
    }
    Ok(Parts {
        header,
        payload: b64url_decode(payload)?,
        signed: signed.as_bytes(),
        signature: b64url_decode(signature)?,
    })
}
