//! Interop with an OCPP implementation nobody on the team wrote: charge points built on the
//! PyPI `ocpp` package (1.6 and 2.0.1) against the real gateway. The test makes its own Python
//! venv under `target/interop-venv` the first time (pip, pinned versions).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::support::{body_json, spawn_app};

static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The venv's python, created on first use.
fn python() -> PathBuf {
    let mut guard = VENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/interop-venv");
    let py = venv.join("bin/python");
    let req = root.join("tests/interop/requirements.txt");
    let ready = venv.join(".ready");
    let wanted = std::fs::read_to_string(&req).unwrap();
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for the interop tests");
        assert!(ok.success(), "python3 -m venv failed");
        let out = Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&req)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&ready, &wanted).unwrap();
    }
    *guard = Some(py.clone());
    py
}

async fn charge_point(ocpp: &str, id: &str, password: &str, version: &str) -> Value {
    charge_point_tls(ocpp, id, password, version, None).await
}

/// The Python charge point; with `cafile`, over TLS trusting that certificate.
async fn charge_point_tls(
    ocpp: &str,
    id: &str,
    password: &str,
    version: &str,
    cafile: Option<PathBuf>,
) -> Value {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/charge_point.py");
    let args = [
        script.to_string_lossy().to_string(),
        ocpp.to_string(),
        id.to_string(),
        password.to_string(),
        version.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(py);
        cmd.args(&args);
        if let Some(ca) = cafile {
            cmd.env("OCPP_CAFILE", ca);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python charge point failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn python_ocpp_charge_points_boot_beat_and_report_status() {
    let app = spawn_app().await;
    let pw = "interop-password-123";
    let mut loc = crate::locations::location("PY", "52.3791300", "4.9001500");
    loc["party_id"] = json!("HUB");
    loc["evses"] = json!([
        crate::locations::evse("PY16-1"),
        crate::locations::evse("PY201-1")
    ]);
    assert_eq!(
        body_json(app.admin_post("/admin/locations", &loc).await).await["data"]["created"],
        1
    );
    for id in ["PY16", "PY201"] {
        let r = app
            .admin_post(
                "/api/chargers",
                &json!({"id": id, "password": pw, "location_id": "PY"}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let v16 = charge_point(&app.ocpp_address, "PY16", pw, "1.6").await;
    assert_eq!(v16["protocol"], "ocpp1.6");
    assert_eq!(v16["boot_status"], "Accepted");
    assert_eq!(v16["interval"], 300);
    let v201 = charge_point(&app.ocpp_address, "PY201", pw, "2.0.1").await;
    assert_eq!(v201["protocol"], "ocpp2.0.1");
    assert_eq!(v201["boot_status"], "Accepted");
    assert!(v201["heartbeat_time"].as_str().unwrap().ends_with('Z'));

    // What they reported reached the OCPI view (statuses are written after the answer).
    crate::ocpp::settled(&app).await;
    let r = app
        .http
        .get(app.url("/api/locations/search?lat=52.37913&lon=4.90015"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let hits = body_json(r).await["data"].as_array().unwrap().clone();
    for uid in ["PY16-1", "PY201-1"] {
        let h = hits.iter().find(|h| h["evse_uid"] == uid).unwrap();
        assert_eq!(h["status"], "CHARGING", "{uid}");
    }
    let v = app.admin_get("/api/chargers/PY16").await;
    assert_eq!(v["data"]["vendor"], "PyVendor");
    assert!(v["data"]["last_heartbeat_at"].is_string());
}

#[tokio::test]
async fn python_ocpp_charge_point_over_tls_security_profile_2() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("hub.pem"), dir.path().join("hub.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = (cert_path.clone(), key_path);
    let app = crate::support::spawn_app_with(move |s| s.ocpp_tls = Some(tls)).await;
    assert!(app.ocpp_address.starts_with("wss://localhost:"));
    let pw = "tls-password-1234567";
    let r = app
        .admin_post("/api/chargers", &json!({"id": "TLS16", "password": pw}))
        .await;
    assert_eq!(r.status(), 201);
    let v = charge_point_tls(&app.ocpp_address, "TLS16", pw, "1.6", Some(cert_path)).await;
    assert_eq!(v["protocol"], "ocpp1.6");
    assert_eq!(v["boot_status"], "Accepted");
    // Plain WebSocket on the TLS listener gets no handshake.
    let plain = app.ocpp_address.replace("wss://", "ws://") + "/ocpp/TLS16";
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(plain)
            .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .unwrap();
    assert!(r.is_err());
}

/// Start the Python charge point in `serve` mode; it answers the hub's calls until Reset.
fn serve(ocpp: &str, id: &str, password: &str, version: &str) -> std::process::Child {
    let py = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/charge_point.py");
    Command::new(py)
        .arg(script)
        .args([ocpp, id, password, version, "serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn python_ocpp_charge_points_answer_every_hub_call() {
    let app = crate::support::spawn_app_with(|s| s.ocpp_call_timeout_secs = 10).await;
    let pw = "interop-password-456";
    for (id, version) in [("PYS16", "1.6"), ("PYS201", "2.0.1")] {
        let r = app
            .admin_post("/api/chargers", &json!({"id": id, "password": pw}))
            .await;
        assert_eq!(r.status(), 201);
        let _ = tokio::task::spawn_blocking(python).await.unwrap();
        let child = serve(&app.ocpp_address, id, pw, version);
        // Wait until it has booted.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let v = app.admin_get(&format!("/api/chargers/{id}")).await;
            if v["data"]["online"] == true && v["data"]["last_boot_at"].is_string() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id} never booted");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let call = |path: &str, body: Value| {
            let app = &app;
            let path = format!("/api/chargers/{id}/{path}");
            async move { body_json(app.admin_post(&path, &body).await).await }
        };
        let v = call("start", json!({"idToken": "PY-TOKEN", "evseId": 1})).await;
        assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
        let stop_id = if version == "1.6" { "17" } else { "TX-17" };
        let v = call("stop", json!({"transactionId": stop_id})).await;
        assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
        let v = call("availability", json!({"evseId": 1, "operative": false})).await;
        assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
        let r = app
            .http
            .patch(app.url(&format!("/api/chargers/{id}/power")))
            .bearer_auth(&app.admin_token)
            .json(&json!({"maxPowerKw": 7.4}))
            .send()
            .await
            .unwrap();
        assert_eq!(body_json(r).await["data"]["response"]["status"], "Accepted");
        let v = call("reset", json!({"type": "Hard"})).await;
        assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let actions: Vec<&str> = got["received"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        let start = if version == "1.6" {
            "RemoteStartTransaction"
        } else {
            "RequestStartTransaction"
        };
        let stop = if version == "1.6" {
            "RemoteStopTransaction"
        } else {
            "RequestStopTransaction"
        };
        assert_eq!(
            actions,
            vec![
                start,
                stop,
                "ChangeAvailability",
                "SetChargingProfile",
                "Reset"
            ],
            "{got}"
        );
        assert_eq!(
            got["received"][0]["id_tag"]
                .as_str()
                .or(got["received"][0]["id_token"].as_str()),
            Some("PY-TOKEN")
        );
        assert_eq!(got["received"][3]["limit"].as_f64(), Some(7400.0));
    }
}

/// Run the Python charge point in `mode` with extra arguments and environment; its JSON output.
fn python_mode(
    ocpp: &str,
    id: &str,
    version: &str,
    mode: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Child {
    let py = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/charge_point.py");
    Command::new(py)
        .arg(script)
        .args([ocpp, id, crate::ocpp::PASSWORD, version, mode])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

async fn output(child: std::process::Child) -> Value {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn python_ocpp_charge_points_run_priced_sessions_to_the_tokens_emsp() {
    let h = crate::sessions::hub(&["PYC16", "PYC201"], |_| {}).await;
    let _ = tokio::task::spawn_blocking(python).await.unwrap();
    for (id, version) in [("PYC16", "1.6"), ("PYC201", "2.0.1")] {
        let got = output(python_mode(
            &h.app.ocpp_address,
            id,
            version,
            "session",
            &["TOK-1"],
            &[],
        ))
        .await;
        assert_eq!(got["authorize"], "Accepted", "{got}");
        assert_eq!(got["start"], "Accepted", "{got}");
    }
    crate::locations::drained(&h.app).await;
    let got = crate::sessions::received(&h.ems).await;
    let puts: Vec<String> = got
        .iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(puts.len(), 2, "{got:#?}");
    for p in &puts {
        let cdr = crate::sessions::check_session_then_cdr(&got, p);
        assert_eq!(cdr["total_energy"], 10.0);
        assert_eq!(
            cdr["total_cost"],
            json!({"excl_vat": 4.0, "incl_vat": 4.8}),
            "{cdr}"
        );
        assert_eq!(cdr["cdr_token"]["uid"], "TOK-1");
    }
    assert!(crate::sessions::received(&h.oth).await.is_empty());
}

#[tokio::test]
async fn python_ocpp_charge_points_start_on_an_ocpi_command() {
    let h = crate::commands::commands_hub(&["PYR16", "PYR201"]).await;
    let _ = tokio::task::spawn_blocking(python).await.unwrap();
    for (id, version, answer) in [
        ("PYR16", "1.6", "StartTransaction.conf"),
        ("PYR201", "2.0.1", "TransactionEvent.conf"),
    ] {
        let child = python_mode(
            &h.app.ocpp_address,
            id,
            version,
            "serve",
            &[],
            &[("OCPP_START_ON_REMOTE", "1")],
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let v = h.app.admin_get(&format!("/api/chargers/{id}")).await;
            if v["data"]["online"] == true && v["data"]["last_boot_at"].is_string() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id} never booted");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let v = crate::commands::command(
            &h,
            &h.ems_c,
            "START_SESSION",
            &crate::commands::start(&h, id, &format!("{id}-1"), "APP-PY"),
        )
        .await;
        assert_eq!(v["data"]["result"], "ACCEPTED", "{v}");
        assert_eq!(
            crate::commands::result_at(&h, id).await["result"],
            "ACCEPTED"
        );
        let got = output(child).await;
        let conf = got["received"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == answer)
            .cloned()
            .unwrap_or_else(|| panic!("{got}"));
        assert_eq!(conf["status"], "Accepted");
    }
}
