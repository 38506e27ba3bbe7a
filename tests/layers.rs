//! The crate's layers point one way. `src/lib.rs` lists them, bottom first, as its
//! architecture map; this test reads that list, finds every path each file under `src/`
//! names (`crate::`, `super::` and `self::` paths, grouped `use` lists, and child modules
//! named without a prefix), resolves each to the file of its deepest module, and fails on
//! any import of a file in a higher layer, naming both files and the path.

use std::collections::BTreeMap;
use std::path::Path;

/// A layer of the map: its number (bottom is 1), its name, and its path patterns.
struct Layer {
    rank: usize,
    name: String,
    patterns: Vec<String>,
}

/// The numbered lines of the map in lib.rs's docs: "//! 3. op kernels: `ops/` ...", each
/// line's paths being the quoted names before its description in parentheses; an indented
/// line that opens with a quoted name continues the paths of the layer above it.
fn read_map(lib: &str) -> Vec<Layer> {
    let quoted = |text: &str| -> Vec<String> {
        let before_description = text.split('(').next().unwrap_or("");
        before_description
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut layers: Vec<Layer> = Vec::new();
    let mut continues = false;
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//! ") else {
            continues = false;
            continue;
        };
        if continues && rest.starts_with(' ') && rest.trim_start().starts_with('`') {
            if let Some(layer) = layers.last_mut() {
                layer.patterns.extend(quoted(rest));
            }
            continues = !rest.contains('(');
            continue;
        }
        continues = false;
        let Some((number, rest)) = rest.split_once(". ") else {
            continue;
        };
        let Ok(rank) = number.trim().parse::<usize>() else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(':') else {
            continue;
        };
        continues = !rest.contains('(');
        layers.push(Layer {
            rank,
            name: name.trim().to_string(),
            patterns: quoted(rest),
        });
    }
    layers
}

/// Whether `pattern` (components split by '/', `*` one component, a trailing '/' the
/// whole folder) matches `file` (a path under src/), and how specific the match is.
fn matches(pattern: &str, file: &str) -> Option<usize> {
    let folder = pattern.ends_with('/');
    let want: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let have: Vec<&str> = file.split('/').collect();
    let fits = if folder {
        have.len() > want.len()
    } else {
        have.len() == want.len()
    };
    (fits && want.iter().zip(&have).all(|(w, h)| *w == "*" || w == h)).then_some(want.len())
}

/// The layer of `file`: that of the most specific pattern matching it.
fn layer_of<'a>(layers: &'a [Layer], file: &str) -> Option<&'a Layer> {
    layers
        .iter()
        .flat_map(|l| l.patterns.iter().map(move |p| (l, p)))
        .filter_map(|(l, p)| matches(p, file).map(|s| (s, l)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, l)| l)
}

/// The module path of a file under src/ ("ops/conv/mod.rs" -> ["ops", "conv"]).
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source without comments and without its `#[cfg(test)] mod tests` (tests may use
/// anything).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The index of the brace that closes the one at `open`.
fn closing_brace(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    chars.len()
}

/// The comma-separated items of a `use` group, nested groups kept whole.
fn top_level_items(inner: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
}

/// Every `a::b::c` path in `code` that starts with one of `heads`, and for grouped `use`
/// lists each member as its own path.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = (i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':')
            && chars[i].is_ascii_alphabetic();
        if !starts {
            i += 1;
            continue;
        }
        let mut parts = Vec::new();
        let mut j = i;
        loop {
            let k = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            parts.push(chars[k..j].iter().collect::<String>());
            if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                j += 2;
                if chars.get(j) == Some(&'{') {
                    let end = closing_brace(&chars, j);
                    let inner: String = chars[j + 1..end].iter().collect();
                    for item in top_level_items(&inner) {
                        // `a::b as c` names a::b; a nested group is taken at its prefix.
                        let item = item.split(" as ").next().unwrap_or("");
                        let item = item.split("::{").next().unwrap_or("").trim();
                        let segments: Vec<String> = item.split("::").map(str::to_string).collect();
                        if item.is_empty()
                            || item == "self"
                            || !segments
                                .iter()
                                .all(|s| !s.is_empty() && s.chars().all(is_ident))
                        {
                            continue;
                        }
                        let mut p = parts.clone();
                        p.extend(segments);
                        out.push(p);
                    }
                    j = end;
                    break;
                }
                if j < chars.len() && is_ident(chars[j]) {
                    continue;
                }
            }
            break;
        }
        if parts.len() > 1 {
            out.push(parts);
        }
        i = j.max(i + 1);
    }
    out
}

/// The files under src/ each file's code points at, with the path that names them.
fn imports(files: &BTreeMap<String, String>) -> Vec<(String, String, String)> {
    let by_module: BTreeMap<Vec<String>, &String> =
        files.keys().map(|f| (module_of(f), f)).collect();
    let resolve = |parts: &[String]| -> Option<&String> {
        (0..=parts.len())
            .rev()
            .find_map(|k| by_module.get(&parts[..k]).copied())
    };
    let mut out = Vec::new();
    for (file, text) in files {
        let own = module_of(file);
        for path in paths_in(&code_of(text)) {
            let target = match path[0].as_str() {
                "crate" => path[1..].to_vec(),
                "super" | "self" => {
                    let mut base = own.clone();
                    let mut rest = path.as_slice();
                    while let Some(head) = rest.first() {
                        match head.as_str() {
                            "super" => {
                                base.pop();
                            }
                            "self" => {}
                            _ => break,
                        }
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                // A child module named without a prefix (`cpu::run(...)` in a mod.rs).
                child => {
                    let mut base = own.clone();
                    base.push(child.to_string());
                    if !by_module.contains_key(&base) {
                        continue;
                    }
                    base.extend(path[1..].iter().cloned());
                    base
                }
            };
            if let Some(to) = resolve(&target) {
                if to != file {
                    out.push((file.clone(), to.clone(), path.join("::")));
                }
            }
        }
    }
    out
}

/// Every way `files` break the map: unmapped files, patterns that match nothing, imports
/// through the crate root, and imports of a higher layer.
fn violations(layers: &[Layer], files: &BTreeMap<String, String>) -> Vec<String> {
    let roots = ["lib.rs", "main.rs"];
    let mut out = Vec::new();
    for file in files.keys().filter(|f| !roots.contains(&f.as_str())) {
        if layer_of(layers, file).is_none() {
            out.push(format!(
                "src/{file} is in no layer of the map in src/lib.rs"
            ));
        }
    }
    for layer in layers {
        for p in &layer.patterns {
            if !files.keys().any(|f| matches(p, f).is_some()) {
                out.push(format!("the map's `{p}` ({}) matches no file", layer.name));
            }
        }
    }
    for (from, to, path) in imports(files) {
        if roots.contains(&from.as_str()) {
            continue;
        }
        if roots.contains(&to.as_str()) {
            out.push(format!(
                "src/{from} names `{path}` through the crate root; name its module"
            ));
            continue;
        }
        if let (Some(a), Some(b)) = (layer_of(layers, &from), layer_of(layers, &to)) {
            if b.rank > a.rank {
                out.push(format!(
                    "src/{from} ({}, layer {}) imports `{path}` from src/{to} ({}, layer {}), \
                     a higher layer",
                    a.name, a.rank, b.name, b.rank
                ));
            }
        }
    }
    out
}

fn read_sources(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 names");
        if path.is_dir() {
            read_sources(&path, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).expect("a readable source");
            out.insert(format!("{prefix}{name}"), text);
        }
    }
}

#[test]
fn every_import_points_down_the_map_in_lib_rs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_sources(&src, "", &mut files);
    let layers = read_map(&files["lib.rs"]);
    assert!(
        layers.len() >= 10,
        "src/lib.rs's map lists {} layers; its lines read `//! N. name: `path` ...`",
        layers.len()
    );
    for (k, layer) in layers.iter().enumerate() {
        assert_eq!(layer.rank, k + 1, "the map's layers are numbered 1, 2, ...");
    }
    let found = violations(&layers, &files);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn an_upward_import_is_reported() {
    let lib = "//! 1. leaf: `shape.rs`\n//! 2. kernels: `ops/`\n//! 3. api: `ops/*/mod.rs`\n";
    let layers = read_map(lib);
    let file = |s: &str| s.to_string();
    let mut files = BTreeMap::from([
        (file("lib.rs"), file(lib)),
        (file("shape.rs"), file("pub struct Layout;")),
        (file("ops/mod.rs"), file("use crate::shape::Layout;")),
        (
            file("ops/conv/mod.rs"),
            file("use cpu::run;\nuse super::op::Op;"),
        ),
        (file("ops/conv/cpu.rs"), file("use crate::shape::Layout;")),
        (file("ops/op.rs"), file("pub enum Op {}")),
    ]);
    assert_eq!(violations(&layers, &files), Vec::<String>::new());
    files.insert(
        file("ops/conv/cpu.rs"),
        file("use crate::ops::{op::Op, conv::conv2d};\n// crate::nothing\n"),
    );
    let found = violations(&layers, &files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("src/ops/conv/cpu.rs (kernels, layer 2) imports `crate::ops::conv")
            && found[0].contains("src/ops/conv/mod.rs (api, layer 3)"),
        "{}",
        found[0]
    );
    files.insert(
        file("ops/op.rs"),
        file("fn f() { shape::g(); super::shape::g(); }"),
    );
    files.insert(file("nowhere.rs"), file(""));
    let found = violations(&layers, &files);
    assert!(found
        .iter()
        .any(|v| v == "src/nowhere.rs is in no layer of the map in src/lib.rs"));
    files.insert(file("shape.rs"), file("use crate::Tensor;"));
    let found = violations(&layers, &files);
    assert!(
        found.iter().any(|v| v.contains("through the crate root")),
        "{found:?}"
    );
}

#[test]
fn a_layer_continues_on_indented_lines_until_its_description() {
    let lib = "//! 1. leaf: `a.rs` `b.rs`\n//!    `c.rs` (leaf types, `x.rs` not a path)\n\
               //!    `d.rs` is prose\n//! 2. top: `e/` (more)\n";
    let layers = read_map(lib);
    let patterns: Vec<Vec<&str>> = layers
        .iter()
        .map(|l| l.patterns.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(patterns, [vec!["a.rs", "b.rs", "c.rs"], vec!["e/"]]);
}
