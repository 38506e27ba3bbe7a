//! The arrays NumPy wrote into tests/data/npy (see its make_fixtures.py), and the values
//! each holds as expected.json records them: decimal strings that parse to the exact double.

use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/npy")
        .join(name)
}

/// The shape and row-major values of the array NumPy saved as `name`.
pub fn expected(name: &str) -> (Vec<usize>, Vec<f64>) {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let want = &all[name];
    let shape = want["shape"]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in expected.json"))
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let values = want["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse::<f64>().unwrap())
        .collect();
    (shape, values)
}
