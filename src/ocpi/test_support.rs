//! Helpers shared by the OCPI model tests.

use serde_json::Value;

/// The spec's example files, read where CI keeps them (`../shared` beside the checkout); they
/// are CC BY-ND and stay out of the repository.
const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/ref/ocpi-2.2.1/examples/"
);

pub fn example(name: &str) -> Value {
    let bytes = std::fs::read(format!("{EXAMPLES}{name}")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The example file names in the examples folder.
pub fn example_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// JSON equality where numbers compare by value (`0.50` vs `0.5`, `372` vs `372.0`).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Sets (or with `None` removes) the value at a JSON pointer.
pub fn mutate(mut v: Value, pointer: &str, new: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap();
    match (target, new) {
        (Value::Object(m), Some(n)) => {
            m.insert(key.to_string(), n);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(n)) => a[key.parse::<usize>().unwrap()] = n,
        (Value::Array(a), None) => {
            a.remove(key.parse::<usize>().unwrap());
        }
        _ => panic!("cannot mutate {pointer}"),
    }
    v
}
