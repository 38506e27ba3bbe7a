//! The one way a WGSL file is specialized. A file names what varies, and a variant gives
//! every name a value:
//! - `{{NAME}}` anywhere in a line is replaced by NAME's value (a type, a constant, code);
//! - a line `//|NAME| text` is a switch: when NAME is 1 its text replaces the nearest line
//!   above that is not a switch line, when NAME is 0 it is dropped. Later switches of the
//!   same line win, so a form may build on another (eight-wide loads on four-wide ones).
//!
//! Rendering fails, naming the file and the name, when a name in the file has no value, a
//! value names nothing in the file, a switch is neither 0 nor 1, or a `{{` is not closed:
//! a misspelt name can never leave a kernel silently unspecialized.

use std::collections::HashSet;
use std::fmt;

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub file: String,
    pub problem: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

const SWITCH: &str = "//|";

/// `text` (the file `file`) with every name given its value in `values`.
pub(crate) fn render(
    file: &str,
    text: &str,
    values: &[(&str, String)],
) -> Result<String, TemplateError> {
    render_lines(text, values).map_err(|problem| TemplateError {
        file: file.to_string(),
        problem,
    })
}

fn render_lines(text: &str, values: &[(&str, String)]) -> Result<String, String> {
    let mut lookup = Lookup {
        values,
        used: HashSet::new(),
    };
    let mut out: Vec<String> = Vec::new();
    let mut switched_line: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix(SWITCH) else {
            out.push(fill(line, &mut lookup)?);
            switched_line = Some(out.len() - 1);
            continue;
        };
        let (name, replacement) = rest
            .split_once('|')
            .ok_or_else(|| format!("line {}: a switch without its closing |", number + 1))?;
        let replacement = replacement.strip_prefix(' ').unwrap_or(replacement);
        let on = match lookup.get(name)? {
            "1" => true,
            "0" => false,
            other => return Err(format!("switch {name} is {other:?}, not 0 or 1")),
        };
        let target = switched_line
            .ok_or_else(|| format!("line {}: switch {name} has no line above", number + 1))?;
        // Filled either way: a name in a line switched off still needs its value.
        let filled = fill(replacement, &mut lookup)?;
        if on {
            out[target] = filled;
        }
    }
    match values.iter().find(|(name, _)| !lookup.used.contains(*name)) {
        Some((name, _)) => Err(format!("{name} is given but the file never names it")),
        None => Ok(out.join("\n")),
    }
}

/// The values, and which of them the file named.
struct Lookup<'v> {
    values: &'v [(&'v str, String)],
    used: HashSet<&'v str>,
}

impl<'v> Lookup<'v> {
    fn get(&mut self, name: &str) -> Result<&'v str, String> {
        let (name, value) = self
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("{name} has no value"))?;
        self.used.insert(name);
        Ok(value)
    }
}

/// `line` with each `{{NAME}}` replaced by its value.
fn fill(line: &str, lookup: &mut Lookup) -> Result<String, String> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("an unclosed {{{{ in {line:?}"))?;
        out.push_str(lookup.get(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
    }

    #[test]
    fn placeholders_and_switches_render() {
        let text = "alias T = {{T}};\nlet a = 1;\n//|WIDE| let a = {{N}};\nlet b = 2;";
        let wide = render(
            "t.wgsl",
            text,
            &values(&[("T", "f16"), ("WIDE", "1"), ("N", "4")]),
        );
        assert_eq!(wide.unwrap(), "alias T = f16;\nlet a = 4;\nlet b = 2;");
        let narrow = render(
            "t.wgsl",
            text,
            &values(&[("T", "f32"), ("WIDE", "0"), ("N", "4")]),
        );
        assert_eq!(narrow.unwrap(), "alias T = f32;\nlet a = 1;\nlet b = 2;");
    }

    #[test]
    fn later_switches_of_a_line_win() {
        let text = "x\n//|A| a\n//|B| b";
        let both = render("t", text, &values(&[("A", "1"), ("B", "1")])).unwrap();
        assert_eq!(both, "b");
        let first = render("t", text, &values(&[("A", "1"), ("B", "0")])).unwrap();
        assert_eq!(first, "a");
    }

    #[test]
    fn a_name_without_a_value_fails() {
        let err = render("k.wgsl", "const N: u32 = {{N}}u;", &[]).unwrap_err();
        assert_eq!(err.to_string(), "k.wgsl: N has no value");
        let err = render("k.wgsl", "x\n//|VEC4| y", &[]).unwrap_err();
        assert_eq!(err.to_string(), "k.wgsl: VEC4 has no value");
    }

    #[test]
    fn a_value_the_file_never_names_fails() {
        let err = render("k.wgsl", "x", &values(&[("LANE", "8")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.wgsl: LANE is given but the file never names it"
        );
    }

    #[test]
    fn malformed_templates_fail() {
        assert!(render("k", "x\n//|S| y", &values(&[("S", "2")])).is_err());
        assert!(render("k", "//|S| y", &values(&[("S", "1")])).is_err());
        assert!(render("k", "x\n//|S y", &[]).is_err());
        assert!(render("k", "a {{N", &values(&[("N", "1")])).is_err());
    }
}
