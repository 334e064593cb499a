//! The hub's key material. One 32-byte master secret per key id (`kid`); every purpose gets
//! its own key derived from it with HMAC-SHA256 and a label:
//! - `token-mac`: the MAC inside the credentials tokens the hub issues,
//! - `token-enc`: ChaCha20-Poly1305 encryption of the partners' tokens at rest,
//! - `admin-jwt`: HS256 admin bearer tokens,
//! - `push-ed25519`: the Ed25519 seed that signs `X-Hub-Signature` JWTs (published as JWKS).
//!
//! The newest key signs and issues; every known key verifies, so keys can be rotated.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of randomness in a credentials token id, and of the truncated MAC.
const TOKEN_ID_BYTES: usize = 18;
const TOKEN_MAC_BYTES: usize = 18;

pub struct MasterSecret([u8; 32]);

impl MasterSecret {
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        Self(b)
    }

    pub fn from_base64(s: &str) -> Result<Self, String> {
        let raw = STANDARD
            .decode(s.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim()))
            .map_err(|_| "not base64".to_string())?;
        let arr: [u8; 32] = raw
            .try_into()
            .map_err(|_| "must decode to exactly 32 bytes".to_string())?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A key id that names this secret without revealing it.
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest(derive(&self.0, b"kid"));
        hex::encode(&d[..6])
    }
}

fn derive(secret: &[u8; 32], label: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn mac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(msg);
    m.finalize().into_bytes().into()
}

pub struct HubKey {
    pub kid: String,
    token_mac: [u8; 32],
    token_enc: [u8; 32],
    admin: [u8; 32],
    push_encoding: EncodingKey,
    push_public_x: String,
}

impl HubKey {
    pub fn new(kid: String, secret: &MasterSecret) -> Result<Self, String> {
        let seed = derive(&secret.0, b"push-ed25519");
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| format!("cannot encode the signing key: {e}"))?;
        let public_x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        Ok(Self {
            kid,
            token_mac: derive(&secret.0, b"token-mac"),
            token_enc: derive(&secret.0, b"token-enc"),
            admin: derive(&secret.0, b"admin-jwt"),
            push_encoding: EncodingKey::from_ed_der(der.as_bytes()),
            push_public_x: public_x,
        })
    }
}

/// All keys the hub knows, newest first. `keys[0]` issues and signs.
pub struct KeyRing {
    keys: Vec<HubKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushClaims {
    /// The hub's public base URL.
    pub iss: String,
    /// The hub's OCPI identity, `CC*PID`.
    pub hub: String,
    /// The partner: its versions URL.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// HTTP method, upper case.
    pub htm: String,
    /// The full request URL.
    pub htu: String,
    /// The request's `X-Request-ID`.
    pub rid: String,
    /// The request's `X-Correlation-ID`.
    pub cid: String,
    /// Base64url (no padding) of the SHA-256 of the exact body bytes (empty body included).
    pub body_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub const ADMIN_ISSUER: &str = "ocpi-hub";
pub const ADMIN_AUDIENCE: &str = "ocpi-hub-admin";

pub fn body_digest(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(body))
}

/// SHA-256 hex of a credentials token: the only form in which the hub stores its own tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl KeyRing {
    pub fn new(keys: Vec<HubKey>) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("no key".into());
        }
        Ok(Self { keys })
    }

    pub fn current(&self) -> &HubKey {
        &self.keys[0]
    }

    /// A new credentials token: `<id>.<mac>`, both base64url, 49 printable ASCII characters.
    pub fn issue_token(&self) -> String {
        let mut id = [0u8; TOKEN_ID_BYTES];
        rand::thread_rng().fill_bytes(&mut id);
        let id = URL_SAFE_NO_PAD.encode(id);
        let tag = mac(&self.current().token_mac, id.as_bytes());
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(&tag[..TOKEN_MAC_BYTES]))
    }

    /// True when the token carries a valid MAC of one of the hub's keys. Checked before any
    /// database lookup, so forged tokens cost nothing.
    pub fn token_is_authentic(&self, token: &str) -> bool {
        let Some((id, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        if tag.len() != TOKEN_MAC_BYTES || id.len() != 24 {
            return false;
        }
        self.keys.iter().any(|k| {
            let want = mac(&k.token_mac, id.as_bytes());
            bool::from(want[..TOKEN_MAC_BYTES].ct_eq(&tag))
        })
    }

    /// Encrypt a partner's token for storage: `v1.<kid>.<base64(nonce || ciphertext)>`.
    pub fn seal(&self, plaintext: &str) -> Result<String, String> {
        let k = self.current();
        let cipher = ChaCha20Poly1305::new((&k.token_enc).into());
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("v1.{}.{}", k.kid, STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("unknown sealed format".into());
        };
        let k = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| format!("sealed with unknown key {kid}"))?;
        let raw = STANDARD
            .decode(body)
            .map_err(|_| "sealed value is not base64")?;
        if raw.len() < 12 {
            return Err("sealed value too short".into());
        }
        let cipher = ChaCha20Poly1305::new((&k.token_enc).into());
        let pt = cipher
            .decrypt(Nonce::from_slice(&raw[..12]), &raw[12..])
            .map_err(|_| "sealed value does not authenticate".to_string())?;
        String::from_utf8(pt).map_err(|_| "sealed value is not UTF-8".to_string())
    }

    /// The `X-Hub-Signature` JWT for one outbound request.
    pub fn sign_push(&self, claims: &PushClaims) -> Result<String, String> {
        let k = self.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(k.kid.clone());
        jsonwebtoken::encode(&header, claims, &k.push_encoding).map_err(|e| e.to_string())
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": k.push_public_x,
                    "kid": k.kid, "alg": "EdDSA", "use": "sig"
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Mint an admin bearer token valid for `ttl_secs`.
    pub fn mint_admin(&self, subject: &str, ttl_secs: i64) -> Result<String, String> {
        let k = self.current();
        let now = chrono::Utc::now().timestamp();
        let claims = AdminClaims {
            sub: subject.to_string(),
            iss: ADMIN_ISSUER.into(),
            aud: ADMIN_AUDIENCE.into(),
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(k.kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&k.admin))
            .map_err(|e| e.to_string())
    }

    /// Verify an admin bearer token: HS256 only, issuer, audience and expiry required.
    pub fn verify_admin(&self, jwt: &str) -> Result<AdminClaims, String> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| "malformed token".to_string())?;
        if header.alg != Algorithm::HS256 {
            return Err("algorithm not allowed".into());
        }
        let kid = header.kid.ok_or("token has no kid")?;
        let k = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or("token signed by an unknown key")?;
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ADMIN_ISSUER]);
        v.set_audience(&[ADMIN_AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = 5;
        jsonwebtoken::decode::<AdminClaims>(jwt, &DecodingKey::from_secret(&k.admin), &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired".to_string(),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "invalid signature".to_string()
                }
                _ => "invalid token".to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let s = MasterSecret::generate();
        KeyRing::new(vec![HubKey::new(s.fingerprint(), &s).unwrap()]).unwrap()
    }

    #[test]
    fn tokens_fit_ocpi_and_forgeries_fail() {
        let r = ring();
        let t = r.issue_token();
        assert!(t.len() <= 64);
        assert!(t.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)));
        assert!(r.token_is_authentic(&t));
        // Change each character in turn: none of the variants verifies.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(b).unwrap();
            assert!(!r.token_is_authentic(&forged), "position {i}");
        }
        assert!(!ring().token_is_authentic(&t), "another hub's key");
    }

    #[test]
    fn sealed_values_round_trip_and_resist_tampering() {
        let r = ring();
        let s = r.seal("partner-token").unwrap();
        assert!(!s.contains("partner-token"));
        assert_eq!(r.open(&s).unwrap(), "partner-token");
        let mut tampered = s.clone();
        tampered.pop();
        tampered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(r.open(&tampered).is_err());
    }

    #[test]
    fn admin_tokens_verify_and_expire() {
        let r = ring();
        let t = r.mint_admin("ops", 60).unwrap();
        assert_eq!(r.verify_admin(&t).unwrap().sub, "ops");
        let old = r.mint_admin("ops", -120).unwrap();
        assert_eq!(r.verify_admin(&old).unwrap_err(), "token expired");
        assert!(ring().verify_admin(&t).is_err());
    }
}
