//! GPU dispatches as plain data: the shader file and variant, the buffers bound, the
//! parameters and the workgroup count; and the tuner a lowering may ask to choose among
//! candidate kernels.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::op::StepDesc;
use crate::ops::params::Params;
use crate::ops::shader_files::ShaderFile;
use crate::ops::shader_template::{render, TemplateError};

/// One specialization of a shader file: its entry point, its storage types (the template's
/// `TI` and `TO`) and the value of every other name its template leaves open
/// (`shader_template.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ShaderVariant {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub input: DType,
    pub output: DType,
    pub values: Vec<(&'static str, String)>,
}

impl ShaderVariant {
    pub(crate) fn new(
        file: ShaderFile,
        entry: &'static str,
        (input, output): (DType, DType),
    ) -> Self {
        ShaderVariant {
            file,
            entry,
            input,
            output,
            values: Vec::new(),
        }
    }

    /// With `name` set to `value` (a number, a type or code).
    pub(crate) fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.values.push((name, value.to_string()));
        self
    }

    /// With the switch `name` on or off.
    pub(crate) fn switch(self, name: &'static str, on: bool) -> Self {
        self.with(name, on as u32)
    }

    /// The WGSL of this variant: its file after its preludes, every name filled.
    pub(crate) fn render(&self) -> Result<String, TemplateError> {
        let mut values = self.values.clone();
        for (name, dtype) in [("TI", self.input), ("TO", self.output)] {
            let wgsl = dtype.wgsl().ok_or_else(|| TemplateError {
                file: self.file.name().to_string(),
                problem: format!("{dtype} has no WGSL storage type"),
            })?;
            values.push((name, wgsl.to_string()));
        }
        let source = render(self.file.name(), &self.file.template(), &values)?;
        Ok(if self.input == DType::F16 || self.output == DType::F16 {
            format!("enable f16;\n{source}")
        } else {
            source
        })
    }

    /// The file, entry point and types, and the values that are not code.
    pub(crate) fn label(&self) -> String {
        let mut label = format!(
            "{}:{} {}->{}",
            self.file.name(),
            self.entry,
            self.input,
            self.output
        );
        for (name, value) in &self.values {
            if !value.contains('\n') {
                label.push_str(&format!(" {name}={value}"));
            }
        }
        label
    }
}

/// A buffer that a dispatch binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Input(usize),
    /// The step's k-th output (only fused kernels have more than one).
    Output(usize),
    Scratch(usize),
}

/// One GPU dispatch as plain data. `params` is bound at binding 0 (the file's `Params`
/// struct, whose Rust twin it was written from); `workgroups` counts all
/// workgroups, which the backend folds into two dimensions when one would exceed the limit.
#[derive(Clone, Debug)]
pub(crate) struct Dispatch {
    pub variant: ShaderVariant,
    pub params: Params,
    pub bindings: Vec<(u32, Arg)>,
    pub workgroups: u32,
}

impl Dispatch {
    /// The parameter words, once known to be written as the struct the variant's file reads.
    pub(crate) fn param_words(&self) -> Result<&[u32]> {
        let wanted = self.variant.file.params();
        if wanted == Some(self.params.layout) {
            return Ok(&self.params.words);
        }
        Err(Error::Gpu {
            context: self.variant.label(),
            message: format!(
                "parameters written as {} where the shader reads {}",
                self.params.layout.name,
                wanted.map_or("none", |l| l.name)
            ),
        })
    }
}

/// The dispatches of one step, and the scratch buffers (bytes) they share.
#[derive(Default)]
pub(crate) struct Lowering {
    pub dispatches: Vec<Dispatch>,
    pub scratch: Vec<u64>,
}

impl Lowering {
    /// Dispatches that need no scratch buffers.
    pub(crate) fn of(dispatches: Vec<Dispatch>) -> Lowering {
        Lowering {
            dispatches,
            scratch: Vec::new(),
        }
    }
}

/// Chooses among kernels that compute the same thing (the GPU backend times them).
pub(crate) trait Tuner {
    /// Which of the candidate kernels `names` (the first the default) runs `step`, of the
    /// problem class `class`: `pinned` if given, else one remembered or timed, where
    /// `lower(i)` is candidate i's dispatch.
    fn choose(
        &self,
        step: &StepDesc,
        class: &str,
        names: &[String],
        pinned: Option<usize>,
        lower: &dyn Fn(usize) -> Lowering,
    ) -> usize;

    /// The device's subgroup size when it has subgroup operations and one fixed size that
    /// divides a 64-invocation workgroup; row kernels may then give each task a subgroup.
    fn subgroup_size(&self) -> Option<u32>;

    /// Whether the device has 64-bit integers (SHADER_INT64), so row sums may read f32 rows
    /// as vec4<u64> (reduce.wgsl's eight-wide variant).
    fn wide_loads(&self) -> bool;
}
