//! Validation of OCPP payloads against the JSON schemas of each version.
//!
//! The schemas are not part of this repository (the OCA publishes them under CC BY-ND); the hub
//! reads them at start from `HUB_OCPP_SCHEMA_DIR`, a folder with `v16/` and `v201/` subfolders in
//! the layout of the PyPI `ocpp` package (`ocpp/v16/schemas/<Action>.json`,
//! `ocpp/v201/schemas/<Action>Request.json`, `<Action>Response.json`). Either the package folder
//! itself (`…/site-packages/ocpp`) or a folder holding `v16/` and `v201/` directly works.
//!
//! `format: date-time` is not enforced: real charge points send times without a zone, which the
//! handlers read leniently (as UTC). Everything else (required, types, enums, lengths, ranges,
//! `multipleOf`, extra properties, item counts) is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::frame::{ErrorKind, Version};

/// Which side of an action a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Request,
    Response,
}

/// Why a payload does not match its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub kind: ErrorKind,
    pub description: String,
}

/// The compiled schemas of both versions.
pub struct Schemas {
    validators: HashMap<(Version, Direction, String), jsonschema::Validator>,
    /// The folder they were read from.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("dir", &self.dir)
            .field("count", &self.validators.len())
            .finish()
    }
}

fn version_dir(root: &Path, name: &str) -> Option<PathBuf> {
    [root.join(name).join("schemas"), root.join(name)]
        .into_iter()
        .find(|p| p.is_dir())
}

/// The action and direction a schema file describes.
fn classify_file(v: Version, stem: &str) -> (Direction, String) {
    if let Some(action) = stem.strip_suffix("Response") {
        return (Direction::Response, action.to_string());
    }
    match v {
        Version::V16 => (Direction::Request, stem.to_string()),
        Version::V201 => (
            Direction::Request,
            stem.strip_suffix("Request").unwrap_or(stem).to_string(),
        ),
    }
}

impl Schemas {
    /// Read and compile every schema under `root`; an error names the file that failed.
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        let mut validators = HashMap::new();
        for (v, name) in [(Version::V16, "v16"), (Version::V201, "v201")] {
            let Some(dir) = version_dir(root, name) else {
                anyhow::bail!("{} has no {name}/ folder of schemas", root.display());
            };
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                let text = std::fs::read_to_string(&path)?;
                let mut schema: Value = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                // Ids such as `urn:OCPP:…` are not resolvable base URIs; the schemas are
                // self-contained, so they are dropped.
                if let Some(o) = schema.as_object_mut() {
                    o.remove("$id");
                    o.remove("id");
                }
                let validator = jsonschema::options()
                    .should_validate_formats(false)
                    .build(&schema)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let (direction, action) = classify_file(v, stem);
                validators.insert((v, direction, action), validator);
            }
        }
        if validators.is_empty() {
            anyhow::bail!("no schemas found under {}", root.display());
        }
        Ok(Self {
            validators,
            dir: root.to_path_buf(),
        })
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Check a payload; `Ok` too when no schema describes the action.
    pub fn check(
        &self,
        v: Version,
        direction: Direction,
        action: &str,
        payload: &Value,
    ) -> Result<(), Violation> {
        let Some(validator) = self.validators.get(&(v, direction, action.to_string())) else {
            return Ok(());
        };
        let errors: Vec<_> = validator.iter_errors(payload).collect();
        // The most telling error first: a missing field before a wrong type before a bad value.
        let worst = errors.iter().min_by_key(|e| rank(e.kind()));
        match worst {
            None => Ok(()),
            Some(e) => {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() {
                    "payload".into()
                } else {
                    path
                };
                Err(Violation {
                    kind: kind_of(e.kind()),
                    description: format!("{at}: {}", describe(e.kind(), &e.to_string())),
                })
            }
        }
    }
}

fn rank(k: &ValidationErrorKind) -> u8 {
    match kind_of(k) {
        ErrorKind::Format => 0,
        ErrorKind::Protocol => 1,
        ErrorKind::TypeConstraint => 2,
        ErrorKind::OccurrenceConstraint => 3,
        _ => 4,
    }
}

/// The OCPP-J error condition a schema violation is.
pub fn kind_of(k: &ValidationErrorKind) -> ErrorKind {
    match k {
        ValidationErrorKind::Required { .. } => ErrorKind::Protocol,
        ValidationErrorKind::Type { .. } => ErrorKind::TypeConstraint,
        ValidationErrorKind::MinItems { .. }
        | ValidationErrorKind::MaxItems { .. }
        | ValidationErrorKind::UniqueItems
        | ValidationErrorKind::AdditionalItems { .. } => ErrorKind::OccurrenceConstraint,
        ValidationErrorKind::AdditionalProperties { .. }
        | ValidationErrorKind::UnevaluatedProperties { .. } => ErrorKind::Format,
        _ => ErrorKind::PropertyConstraint,
    }
}

/// The validator's message, without echoing long instance values back.
fn describe(k: &ValidationErrorKind, message: &str) -> String {
    match k {
        ValidationErrorKind::Required { property } => {
            format!("required property {property} is missing")
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            format!("unknown propert(ies) {}", unexpected.join(", "))
        }
        ValidationErrorKind::MaxLength { limit } => format!("longer than {limit} characters"),
        ValidationErrorKind::Enum { options } => format!("not one of {options}"),
        _ => message.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shared() -> Option<Schemas> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/ocpp-schemas");
        dir.is_dir().then(|| Schemas::load(&dir).unwrap())
    }

    #[test]
    fn file_names_map_to_actions() {
        assert_eq!(
            classify_file(Version::V16, "BootNotification"),
            (Direction::Request, "BootNotification".into())
        );
        assert_eq!(
            classify_file(Version::V16, "BootNotificationResponse"),
            (Direction::Response, "BootNotification".into())
        );
        assert_eq!(
            classify_file(Version::V201, "TransactionEventRequest"),
            (Direction::Request, "TransactionEvent".into())
        );
    }

    #[test]
    fn violations_map_to_ocpp_error_codes() {
        let Some(s) = shared() else {
            eprintln!("../shared/ref/ocpp-schemas absent: schema comparison skipped");
            return;
        };
        assert!(s.len() >= 200, "{} schemas", s.len());
        let ok = json!({"chargePointVendor": "V", "chargePointModel": "M"});
        assert_eq!(
            s.check(Version::V16, Direction::Request, "BootNotification", &ok),
            Ok(())
        );
        for (v, action, payload, kind) in [
            (
                Version::V16,
                "BootNotification",
                json!({"chargePointVendor": "V"}),
                ErrorKind::Protocol,
            ),
            (
                Version::V16,
                "BootNotification",
                json!({"chargePointVendor": 5, "chargePointModel": "M"}),
                ErrorKind::TypeConstraint,
            ),
            (
                Version::V16,
                "BootNotification",
                json!({"chargePointVendor": "x".repeat(21), "chargePointModel": "M"}),
                ErrorKind::PropertyConstraint,
            ),
            (
                Version::V16,
                "BootNotification",
                json!({"chargePointVendor": "V", "chargePointModel": "M", "color": "red"}),
                ErrorKind::Format,
            ),
            (
                Version::V16,
                "MeterValues",
                json!({"connectorId": 1, "meterValue": []}),
                ErrorKind::OccurrenceConstraint,
            ),
            (
                Version::V201,
                "StatusNotification",
                json!({"timestamp": "2024-01-01T00:00:00Z", "connectorStatus": "Busy", "evseId": 1, "connectorId": 1}),
                ErrorKind::PropertyConstraint,
            ),
        ] {
            let e = s
                .check(v, Direction::Request, action, &payload)
                .unwrap_err();
            assert_eq!(e.kind, kind, "{action} {payload}: {}", e.description);
        }
        // No schema, nothing to say.
        assert_eq!(
            s.check(Version::V16, Direction::Request, "NoSuchAction", &json!({})),
            Ok(())
        );
    }

    #[test]
    fn multiple_of_tenths_is_exact() {
        // jsonschema 0.30 refused valid multiples of 0.1; 0.60 does not.
        let Some(s) = shared() else { return };
        let profile = |limit: f64| {
            json!({"connectorId": 1, "csChargingProfiles": {
                "chargingProfileId": 1, "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                "chargingSchedule": {"chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}})
        };
        for ok in [16.2, 21.4, 0.3, 7.1, 32.0] {
            assert_eq!(
                s.check(
                    Version::V16,
                    Direction::Request,
                    "SetChargingProfile",
                    &profile(ok)
                ),
                Ok(()),
                "{ok}"
            );
        }
        assert!(
            s.check(
                Version::V16,
                Direction::Request,
                "SetChargingProfile",
                &profile(16.25)
            )
            .is_err()
        );
    }
}
