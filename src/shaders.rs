//! Every WGSL variant the engine can compile, rendered: for validation and translation
//! tools, and for anyone who wants to read exactly what runs. Each file's variants come from
//! the function the registry names beside it (ops/shader_files.rs), in its family's gpu.rs,
//! which builds them with the functions its lowering calls.

use crate::error::{Error, Result};
use crate::ops::dispatch::ShaderVariant;
use crate::ops::shader_files::ShaderFile;

pub use crate::ops::params::ParamsLayout;

/// One rendered shader: a label naming file, entry point, types and values, the files it is
/// rendered from (preludes first), the entry point, the WGSL source, and the layout of the
/// Rust struct its parameters (`Params` at binding 0) are written from.
pub struct RenderedShader {
    pub label: String,
    pub files: Vec<&'static str>,
    pub entry: &'static str,
    pub source: String,
    pub params: Option<&'static ParamsLayout>,
}

fn all_variants() -> Vec<ShaderVariant> {
    let mut out: Vec<ShaderVariant> = ShaderFile::ALL.iter().flat_map(|f| f.variants()).collect();
    // Kernels that ignore an option (the output's width, say) appear once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// Every variant, rendered; an error names the first that does not render. (The device
/// check, subgroup_check.wgsl, and the peak kernels, peak.wgsl, have no variants: they run
/// as written.)
pub fn rendered() -> Result<Vec<RenderedShader>> {
    all_variants()
        .into_iter()
        .map(|v| {
            let source = v.render().map_err(|e| Error::Gpu {
                context: v.label(),
                message: e.to_string(),
            })?;
            Ok(RenderedShader {
                label: v.label(),
                files: v
                    .file
                    .preludes()
                    .iter()
                    .chain([&v.file])
                    .map(|f| f.name())
                    .collect(),
                entry: v.entry,
                source,
                params: v.file.params(),
            })
        })
        .collect()
}

/// The shader files as they are on disk: (file name, text), each once.
pub fn files() -> Vec<(&'static str, &'static str)> {
    ShaderFile::ALL
        .iter()
        .map(|f| (f.name(), f.text()))
        .collect()
}
