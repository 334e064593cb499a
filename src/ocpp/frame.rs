//! OCPP-J framing: CALL `[2, id, action, payload]`, CALLRESULT `[3, id, payload]`, CALLERROR
//! `[4, id, code, description, details]`, with each version's error codes.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V16,
    V201,
}

impl Version {
    pub fn subprotocol(&self) -> &'static str {
        match self {
            Version::V16 => "ocpp1.6",
            Version::V201 => "ocpp2.0.1",
        }
    }

    pub fn from_subprotocol(s: &str) -> Option<Self> {
        match s.trim() {
            "ocpp1.6" => Some(Version::V16),
            "ocpp2.0.1" => Some(Version::V201),
            _ => None,
        }
    }
}

/// The error conditions of the RPC layer; each version spells them its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not JSON, or not an OCPP-J array of the right shape.
    Format,
    /// The message id cannot be read (2.0.1 answers with id "-1").
    RpcFramework,
    /// A MessageTypeId other than 2, 3, 4.
    MessageTypeNotSupported,
    NotImplemented,
    NotSupported,
    /// A required field is missing.
    Protocol,
    /// A field of the wrong JSON type.
    TypeConstraint,
    /// A value outside its enum, pattern, length or range.
    PropertyConstraint,
    /// Too few or too many items.
    OccurrenceConstraint,
    Internal,
    Security,
    Generic,
}

impl ErrorKind {
    pub fn code(&self, v: Version) -> &'static str {
        match (self, v) {
            (ErrorKind::Format, Version::V16) => "FormationViolation",
            (ErrorKind::Format, Version::V201) => "FormatViolation",
            (ErrorKind::RpcFramework, Version::V16) => "GenericError",
            (ErrorKind::RpcFramework, Version::V201) => "RpcFrameworkError",
            (ErrorKind::MessageTypeNotSupported, Version::V16) => "NotSupported",
            (ErrorKind::MessageTypeNotSupported, Version::V201) => "MessageTypeNotSupported",
            (ErrorKind::NotImplemented, _) => "NotImplemented",
            (ErrorKind::NotSupported, _) => "NotSupported",
            (ErrorKind::Protocol, _) => "ProtocolError",
            (ErrorKind::TypeConstraint, _) => "TypeConstraintViolation",
            (ErrorKind::PropertyConstraint, _) => "PropertyConstraintViolation",
            // The 1.6 spelling is the spec's own (kept by its errata).
            (ErrorKind::OccurrenceConstraint, Version::V16) => "OccurenceConstraintViolation",
            (ErrorKind::OccurrenceConstraint, Version::V201) => "OccurrenceConstraintViolation",
            (ErrorKind::Internal, _) => "InternalError",
            (ErrorKind::Security, _) => "SecurityError",
            (ErrorKind::Generic, _) => "GenericError",
        }
    }
}

/// A refused inbound message: what to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The message id to answer, `"-1"` when unreadable.
    pub id: String,
    pub kind: ErrorKind,
    pub description: String,
}

impl RpcError {
    pub fn new(id: impl Into<String>, kind: ErrorKind, description: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            description: description.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    Result {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        code: String,
        description: String,
        details: Value,
    },
}

/// Parse one text frame. `Ok(None)`: a 1.6 message of an unknown type, to be ignored.
pub fn parse(text: &str, v: Version) -> Result<Option<Frame>, RpcError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| RpcError::new("-1", ErrorKind::Format, format!("not JSON: {e}")))?;
    let Some(arr) = value.as_array() else {
        return Err(RpcError::new(
            "-1",
            ErrorKind::Format,
            "a message must be a JSON array",
        ));
    };
    let id = match arr.get(1) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 36 => s.clone(),
        _ => {
            return Err(RpcError::new(
                "-1",
                ErrorKind::RpcFramework,
                "the message id must be a string of 1 to 36 characters",
            ));
        }
    };
    let bad = |what: &str| {
        Err(RpcError::new(
            id.clone(),
            ErrorKind::Format,
            what.to_string(),
        ))
    };
    match arr.first().and_then(Value::as_u64) {
        Some(2) => {
            if arr.len() != 4 {
                return bad("a CALL has 4 elements");
            }
            let Some(action) = arr[2].as_str() else {
                return bad("the action must be a string");
            };
            if !arr[3].is_object() {
                return bad("the payload must be a JSON object");
            }
            Ok(Some(Frame::Call {
                id,
                action: action.to_string(),
                payload: arr[3].clone(),
            }))
        }
        Some(3) => {
            if arr.len() != 3 || !arr[2].is_object() {
                return bad("a CALLRESULT is [3, id, {payload}]");
            }
            Ok(Some(Frame::Result {
                id,
                payload: arr[2].clone(),
            }))
        }
        Some(4) => {
            if arr.len() != 5 {
                return bad("a CALLERROR has 5 elements");
            }
            Ok(Some(Frame::Error {
                id,
                code: arr[2].as_str().unwrap_or("GenericError").to_string(),
                description: arr[3].as_str().unwrap_or("").to_string(),
                details: arr[4].clone(),
            }))
        }
        _ => match v {
            Version::V16 => Ok(None),
            Version::V201 => Err(RpcError::new(
                id,
                ErrorKind::MessageTypeNotSupported,
                "message type must be 2, 3 or 4",
            )),
        },
    }
}

pub fn call(id: &str, action: &str, payload: &Value) -> String {
    json!([2, id, action, payload]).to_string()
}

pub fn result(id: &str, payload: &Value) -> String {
    json!([3, id, payload]).to_string()
}

/// A CALLERROR; the description is cut to 255 characters (2.0.1's limit), details `{}`.
pub fn error(e: &RpcError, v: Version) -> String {
    let description: String = e.description.chars().take(255).collect();
    json!([4, e.id, e.kind.code(v), description, {}]).to_string()
}

/// Map a payload deserialisation error to the violation it is.
pub fn classify_serde(e: &serde_json::Error) -> ErrorKind {
    let m = e.to_string();
    if m.starts_with("missing field") {
        ErrorKind::Protocol
    } else if m.starts_with("invalid type") {
        ErrorKind::TypeConstraint
    } else if m.contains("invalid length") {
        ErrorKind::OccurrenceConstraint
    } else {
        ErrorKind::PropertyConstraint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_message_types() {
        let f = parse(r#"[2,"19223201","BootNotification",{"a":1}]"#, Version::V16).unwrap();
        assert!(matches!(f, Some(Frame::Call { ref action, .. }) if action == "BootNotification"));
        let f = parse(r#"[3,"1",{}]"#, Version::V201).unwrap();
        assert!(matches!(f, Some(Frame::Result { .. })));
        let f = parse(r#"[4,"1","NotImplemented","",{}]"#, Version::V201).unwrap();
        assert!(matches!(f, Some(Frame::Error { ref code, .. }) if code == "NotImplemented"));
    }

    #[test]
    fn refusals_carry_each_versions_code() {
        for (text, v, id, code) in [
            ("not json", Version::V16, "-1", "FormationViolation"),
            ("not json", Version::V201, "-1", "FormatViolation"),
            (r#"{"a":1}"#, Version::V201, "-1", "FormatViolation"),
            (
                r#"[2, 5, "Heartbeat", {}]"#,
                Version::V201,
                "-1",
                "RpcFrameworkError",
            ),
            (
                r#"[2, "7", "Heartbeat"]"#,
                Version::V16,
                "7",
                "FormationViolation",
            ),
            (
                r#"[2, "7", "Heartbeat", []]"#,
                Version::V201,
                "7",
                "FormatViolation",
            ),
            (
                r#"[9, "8", "Heartbeat", {}]"#,
                Version::V201,
                "8",
                "MessageTypeNotSupported",
            ),
        ] {
            let e = parse(text, v).unwrap_err();
            assert_eq!((e.id.as_str(), e.kind.code(v)), (id, code), "{text}");
            let out: Value = serde_json::from_str(&error(&e, v)).unwrap();
            assert_eq!(out[0], 4);
            assert_eq!(out[2], code);
            assert_eq!(out[4], json!({}));
        }
        // 1.6 ignores unknown message types.
        assert_eq!(
            parse(r#"[9, "8", "Heartbeat", {}]"#, Version::V16).unwrap(),
            None
        );
        assert_eq!(
            ErrorKind::OccurrenceConstraint.code(Version::V16),
            "OccurenceConstraintViolation"
        );
    }
}
