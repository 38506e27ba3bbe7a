//! include/lepton.h is what cbindgen makes of this crate's source with cbindgen.toml: a change
//! to the ABI that is not in the header fails here. `LEPTON_BLESS=1 cargo test -p lepton-c
//! --test header` writes the header anew.

use std::path::Path;

#[test]
fn the_header_is_generated_from_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .unwrap();
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = root.join("include/lepton.h");
    if std::env::var_os("LEPTON_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/lepton.h differs from the source's ABI; regenerate it with LEPTON_BLESS=1"
    );
}
