//! The hub's own locations (import through the admin API and the CLI) and the app search.

use reqwest::Method;
use serde_json::{Value, json};

use crate::locations::{connector, drained, hub_with_partners, location, pushes, tariff};
use crate::support::body_json;

/// An own location (NL/HUB) at `lat`/`lon` with one EVSE per (uid, standard, kW, tariff, status).
fn own_location(
    id: &str,
    lat: &str,
    lon: &str,
    evses: &[(&str, &str, u32, Option<&str>, &str)],
) -> Value {
    let evses: Vec<Value> = evses
        .iter()
        .map(|(uid, standard, kw, tariff, status)| {
            let mut c = connector("1");
            c["standard"] = json!(standard);
            c["max_electric_power"] = json!(kw * 1000);
            c["power_type"] = json!(if *kw > 43 { "DC" } else { "AC_3_PHASE" });
            if let Some(t) = tariff {
                c["tariff_ids"] = json!([t]);
            }
            json!({"uid": uid, "status": status, "connectors": [c], "last_updated": "2026-01-01T10:00:00Z"})
        })
        .collect();
    let mut l = location(id, lat, lon);
    l["party_id"] = json!("HUB");
    l["evses"] = json!(evses);
    l
}

fn own_tariff(id: &str, per_kwh: f64, flat: Option<f64>) -> Value {
    let mut t = tariff(id, per_kwh);
    t["party_id"] = json!("HUB");
    t["elements"][0]["price_components"][0]["vat"] = json!(21.0);
    if let Some(f) = flat {
        t["elements"]
            .as_array_mut()
            .unwrap()
            .push(json!({"price_components": [{"type": "FLAT", "price": f, "vat": 21.0, "step_size": 1}]}));
    }
    t
}

#[tokio::test]
async fn import_own_locations_and_search_by_distance_and_price() {
    let (app, cpo, emsp_c, emsp) =
        hub_with_partners(|s| s.default_tariff_id = Some("STD".into())).await;
    // Tariffs first (one array), then locations around Amsterdam Centraal (52.37890, 4.90060).
    let r = app
        .admin_post(
            "/admin/tariffs",
            &json!([
                own_tariff("CHEAP", 0.20, None),
                own_tariff("DEAR", 0.60, Some(1.0)),
                own_tariff("STD", 0.40, None)
            ]),
        )
        .await;
    assert_eq!(
        body_json(r).await["data"],
        json!({"created": 3, "updated": 0})
    );
    let locs = json!([
        // ~0.5 km north
        own_location(
            "NEAR",
            "52.3834000",
            "4.9006000",
            &[
                ("CP1-1", "IEC_62196_T2", 22, Some("DEAR"), "AVAILABLE"),
                ("CP1-2", "IEC_62196_T2_COMBO", 150, Some("DEAR"), "CHARGING")
            ]
        ),
        // ~2.2 km east
        own_location(
            "MID",
            "52.3789000",
            "4.9330000",
            &[("CP2-1", "IEC_62196_T2", 11, Some("CHEAP"), "AVAILABLE")]
        ),
        // ~4.4 km south, no tariff_ids: the default tariff applies
        own_location(
            "FAR",
            "52.3390000",
            "4.9006000",
            &[("CP3-1", "IEC_62196_T2", 22, None, "AVAILABLE")]
        ),
        // ~60 km away: outside the radius
        own_location(
            "AWAY",
            "52.9000000",
            "4.9006000",
            &[("CP4-1", "IEC_62196_T2", 22, None, "AVAILABLE")]
        ),
    ]);
    let v = body_json(app.admin_post("/admin/locations", &locs).await).await;
    assert_eq!(v["data"], json!({"created": 4, "updated": 0}), "{v}");
    // A remote CPO's location in range, pushed by it.
    let remote = location("REMOTE", "52.3800000", "4.8900000");
    let r = app
        .send_json(
            Method::PUT,
            "/ocpi/2.2.1/receiver/locations/NL/CPO/REMOTE",
            &cpo,
            &remote,
        )
        .await;
    assert_eq!(r.status(), 201);
    // Own objects were pushed to the eMSP like any other.
    drained(&app).await;
    let paths: Vec<String> = pushes(&emsp).await.into_iter().map(|(_, p, _)| p).collect();
    assert!(paths.contains(&"/ocpi/emsp/2.2.1/locations/NL/HUB/NEAR".to_string()));
    assert!(paths.contains(&"/ocpi/emsp/2.2.1/tariffs/NL/HUB/CHEAP".to_string()));

    let search = |q: &str| {
        let app = &app;
        let tok = emsp_c.clone();
        let q = q.to_string();
        async move {
            body_json(
                app.get(
                    &format!("/api/locations/search?lat=52.37890&lon=4.90060&{q}"),
                    &tok,
                )
                .await,
            )
            .await
        }
    };
    // By distance: nearest first, the far-away one left out; one hit per EVSE.
    let v = search("radius_km=10").await;
    let order: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["evse_uid"].as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 2 + 1 + 1 + 2, "{v}");
    let d: Vec<f64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["distance_km"].as_f64().unwrap())
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    let near = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["evse_uid"] == "CP1-1")
        .unwrap();
    assert!(
        (near["distance_km"].as_f64().unwrap() - 0.49).abs() < 0.05,
        "{near}"
    );
    assert!(!order.contains(&"CP4-1"));

    // Filters: CCS only; at least 50 kW; available now.
    let v = search("standard=IEC_62196_T2_COMBO").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["evse_uid"], "CP1-2");
    assert_eq!(v["data"][0]["max_power_kw"], 150.0);
    let v = search("min_power_kw=50&available_now=true").await;
    assert_eq!(v["data"], json!([]), "the only fast one is charging");
    let v = search("available_now=true&power_type=AC_3_PHASE").await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["status"] == "AVAILABLE")
    );

    // By price for 20 kWh: CHEAP 4.00, default STD 8.00, DEAR 12.00 + 1.00 flat; unpriced last.
    let v = search("sort=price&energy_kwh=20&standard=IEC_62196_T2").await;
    let prices: Vec<(String, Value)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["evse_uid"].as_str().unwrap().to_string(),
                h["estimated_price"]["excl_vat"].clone(),
            )
        })
        .collect();
    assert_eq!(
        prices,
        vec![
            ("CP2-1".to_string(), json!(4.0)),
            ("CP3-1".to_string(), json!(8.0)),
            ("CP1-1".to_string(), json!(13.0)),
            ("REMOTE-1".to_string(), Value::Null),
            ("REMOTE-2".to_string(), Value::Null),
        ]
    );
    assert_eq!(v["data"][0]["estimated_price"]["incl_vat"], json!(4.84));
    assert_eq!(v["data"][0]["estimated_price"]["currency"], "EUR");

    // Operators search with the admin JWT; bad parameters are named; no token → 401.
    let r = app
        .http
        .get(app.url("/api/locations/search?lat=52.3789&lon=4.9006&radius_km=100"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await["data"].as_array().unwrap().len(), 7);
    let v = search("radius_km=0").await;
    assert_eq!(v["status_code"], 2001);
    let r = app
        .http
        .get(app.url("/api/locations/search?lat=1&lon=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .get("/api/locations/search?lat=north&lon=1", &emsp_c)
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
}

#[tokio::test]
async fn import_refuses_other_owners_and_invalid_items_whole() {
    let (app, _, _, _) = hub_with_partners(|_| {}).await;
    let good = own_location(
        "A",
        "52.3834000",
        "4.9006000",
        &[("E1", "IEC_62196_T2", 22, None, "AVAILABLE")],
    );
    let mut bad = good.clone();
    bad["id"] = json!("B");
    bad["coordinates"]["latitude"] = json!("52.3");
    let v = body_json(
        app.admin_post("/admin/locations", &json!([good.clone(), bad]))
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"].as_str().unwrap().contains("item [1]"),
        "{v}"
    );
    let foreign = location("C", "52.3834000", "4.9006000");
    let v = body_json(app.admin_post("/admin/locations", &foreign).await).await;
    assert!(
        v["status_message"].as_str().unwrap().contains("NL/CPO"),
        "{v}"
    );
    // Nothing of either was stored.
    let r = app
        .http
        .get(app.url("/api/locations/search?lat=52.3834&lon=4.9006"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await["data"], json!([]));
    // One object (not an array) is fine too.
    let v = body_json(app.admin_post("/admin/locations", &good).await).await;
    assert_eq!(v["data"]["created"], 1);
}

#[test]
fn cli_imports_location_and_tariff_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::fresh_database_url(dir.path());
    let lf = dir.path().join("locations.json");
    std::fs::write(
        &lf,
        json!([own_location(
            "X",
            "52.3834000",
            "4.9006000",
            &[("E1", "IEC_62196_T2", 22, None, "AVAILABLE")]
        )])
        .to_string(),
    )
    .unwrap();
    let tf = dir.path().join("tariff.json");
    std::fs::write(&tf, own_tariff("T", 0.3, None).to_string()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ocpi-hub"))
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", &db)
            .env("HUB_LOG_LEVEL", "warn")
            .output()
            .unwrap()
    };
    let out = run(&["location", "import", lf.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 location(s) created, 0 updated"
    );
    let out = run(&["location", "import", lf.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 location(s) created, 1 updated"
    );
    let out = run(&["tariff", "import", tf.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 tariff(s) created, 0 updated"
    );
    let out = run(&["tariff", "import", "/nonexistent.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));
}
