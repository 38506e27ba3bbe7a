//! Running the `lepton` binary in tests.

use std::path::PathBuf;
use std::process::Command;

/// Runs the binary with kernels fixed (no timing of candidates), as every test does, and
/// returns its output, once it succeeded.
pub fn lepton(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args(args)
        .env("LEPTON_AUTOTUNE", "0")
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lepton {args:?} failed:\n{text}");
    text
}

/// A fresh directory of this process for `name`.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lepton-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The command fails with an `error: ` line before it prints `trained` (a line only
/// training prints); returns the error.
pub fn refused(args: &[&str], trained: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} was accepted");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(trained),
        "{args:?} trained before refusing"
    );
    stderr
}
