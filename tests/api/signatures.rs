//! `X-Hub-Signature` on every request that reaches a partner, verified the way docs/signatures.md
//! tells partners to: JWKS from the hub, EdDSA, then method, URL, request id and body digest.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ocpi_hub::keys::PushClaims;
use serde_json::json;
use sha2::Digest;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{FakePartner, body_json, spawn_app};

/// A partner's verification of one received request.
pub fn verify(
    jwks: &JwkSet,
    req: &wiremock::Request,
    body: &[u8],
    audience: &str,
) -> Result<PushClaims, String> {
    let sig = req
        .headers
        .get("x-hub-signature")
        .ok_or("no X-Hub-Signature")?
        .to_str()
        .map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(sig).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::EdDSA {
        return Err("unexpected algorithm".into());
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[audience]);
    let claims = jsonwebtoken::decode::<PushClaims>(sig, &key, &v)
        .map_err(|e| e.to_string())?
        .claims;
    if claims.htm != req.method.as_str() {
        return Err("method differs".into());
    }
    // The partner knows its own public origin (wiremock reports `localhost` as the host, so
    // the origin is taken from the audience) and compares path and query byte for byte.
    let signed = url::Url::parse(&claims.htu).map_err(|e| e.to_string())?;
    let origin = url::Url::parse(audience).map_err(|e| e.to_string())?;
    if signed.origin() != origin.origin()
        || signed.path() != req.url.path()
        || signed.query() != req.url.query()
    {
        return Err(format!("url differs: {} vs {}", claims.htu, req.url));
    }
    let rid = req
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if claims.rid != rid {
        return Err("request id differs".into());
    }
    let digest =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body));
    if claims.body_sha256 != digest {
        return Err("body digest differs".into());
    }
    Ok(claims)
}

#[tokio::test]
async fn every_request_to_a_partner_is_signed_and_tampering_shows() {
    let app = spawn_app().await;
    let partner = FakePartner::start("their-token-A").await;
    let uri = partner.server.uri();
    Mock::given(method("POST"))
        .and(path("/ocpi/2.2.1/credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(FakePartner::envelope(json!({
            "token": "their-token-A",
            "url": format!("{uri}/ocpi/versions"),
            "roles": [{"role": "EMSP", "country_code": "DE", "party_id": "SIG", "business_details": {"name": "Sig"}}]
        }))))
        .mount(&partner.server)
        .await;
    let r = app
        .admin_post(
            "/admin/parties/connect",
            &json!({"versions_url": partner.versions_url(), "token": "their-token-A"}),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 1000);

    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let calls = partner.requests().await;
    assert_eq!(calls.len(), 3, "versions, details, credentials POST");
    let audience = partner.versions_url();
    for c in &calls {
        let claims = verify(&jwks, c, &c.body, &audience)
            .unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.url));
        assert_eq!(claims.hub, "NL*HUB");
        assert_eq!(claims.iss, app.address);
        assert!(claims.exp > claims.iat && claims.exp - claims.iat <= 300);
        assert_eq!(claims.cid, c.headers["x-correlation-id"].to_str().unwrap());
    }
    // The POST carried a body; altering one byte of it breaks verification.
    let post = calls.iter().find(|c| c.method.as_str() == "POST").unwrap();
    assert!(!post.body.is_empty());
    let mut tampered = post.body.clone();
    let i = tampered.iter().position(|b| *b == b'H').unwrap();
    tampered[i] = b'X';
    assert_eq!(
        verify(&jwks, post, &tampered, &audience).unwrap_err(),
        "body digest differs"
    );
    // A signature checked against another partner's identity fails too.
    assert!(
        verify(
            &jwks,
            post,
            &post.body,
            "https://someone-else.example/versions"
        )
        .is_err()
    );
    // And against another hub's keys.
    let s = ocpi_hub::keys::MasterSecret::generate();
    let ring = ocpi_hub::keys::KeyRing::new(vec![
        ocpi_hub::keys::HubKey::new(jwks.keys[0].common.key_id.clone().unwrap(), &s).unwrap(),
    ])
    .unwrap();
    let foreign: JwkSet = serde_json::from_value(ring.jwks()).unwrap();
    assert!(verify(&foreign, post, &post.body, &audience).is_err());
}

#[tokio::test]
async fn inbound_registration_callbacks_are_signed_too() {
    let app = spawn_app().await;
    let partner = FakePartner::start("b-token").await;
    app.register_partner(&partner, "EMSP", "NL", "ABC").await;
    let jwks: JwkSet = serde_json::from_value(app.state.keys.jwks()).unwrap();
    for c in partner.requests().await {
        verify(&jwks, &c, &c.body, &partner.versions_url()).unwrap();
    }
    // The signature of a GET binds the empty body.
    let calls = partner.requests().await;
    assert!(verify(&jwks, &calls[0], b"{}", &partner.versions_url()).is_err());
}
