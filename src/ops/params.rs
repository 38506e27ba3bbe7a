//! Kernel parameters: each shader file's uniform block at binding 0 is a WGSL `struct
//! Params`, and its Rust twin is a `#[repr(C)]` struct declared with `kernel_params!`,
//! which records every field's name and offset. `tests/shaders.rs` holds the two to the
//! same names, offsets and size, so a field added on one side only fails a test rather
//! than reading the wrong word. WGSL's uniform rules shape the structs: arrays hold
//! `vec4<u32>` (`[[u32; 4]; N]` here, a 16-byte stride) and start on 16-byte boundaries,
//! and the Rust struct spells out the padding that WGSL leaves implicit (fields named `_…`,
//! which the test skips).

/// A parameter struct's name, its fields' names and byte offsets, and its size.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamsLayout {
    pub name: &'static str,
    pub fields: &'static [(&'static str, usize)],
    pub size: usize,
}

/// A struct of kernel parameters, declared with `kernel_params!`.
pub(crate) trait KernelParams: bytemuck::Pod {
    fn layout() -> &'static ParamsLayout;
}

/// `#[repr(C)]` structs of kernel parameters: every field public, every byte a field, and
/// their layout recorded for the test that compares them with the WGSL.
macro_rules! kernel_params {
    ($($(#[$doc:meta])* pub(crate) struct $name:ident {
        $($(#[$field_doc:meta])* $field:ident: $ty:ty,)*
    })*) => {$(
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $name {
            $($(#[$field_doc])* pub $field: $ty,)*
        }

        impl $crate::ops::params::KernelParams for $name {
            fn layout() -> &'static $crate::ops::params::ParamsLayout {
                const LAYOUT: $crate::ops::params::ParamsLayout = $crate::ops::params::ParamsLayout {
                    name: stringify!($name),
                    fields: &[$((stringify!($field), std::mem::offset_of!($name, $field)),)*],
                    size: std::mem::size_of::<$name>(),
                };
                &LAYOUT
            }
        }
    )*};
}
pub(crate) use kernel_params;

/// A dispatch's parameters: the words to upload and the struct they were written as.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub layout: &'static ParamsLayout,
    pub words: Vec<u32>,
}

impl Params {
    pub(crate) fn of<P: KernelParams>(params: &P) -> Params {
        Params {
            layout: P::layout(),
            words: bytemuck::cast_slice(std::slice::from_ref(params)).to_vec(),
        }
    }
}

/// Sizes or strides of up to `MAX_RANK` (8) dimensions as a uniform array of two
/// `vec4<u32>`, unused slots 0.
pub(crate) fn per_dim(values: &[usize]) -> [[u32; 4]; 2] {
    let mut out = [[0u32; 4]; 2];
    for (k, v) in values.iter().enumerate() {
        out[k / 4][k % 4] = *v as u32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    kernel_params! {
        pub(crate) struct Example {
            shape: [[u32; 4]; 2],
            count: u32,
            scale: f32,
            _pad: [u32; 2],
        }
    }

    #[test]
    fn the_layout_names_every_field_at_its_offset() {
        let layout = Example::layout();
        assert_eq!(layout.name, "Example");
        assert_eq!(
            layout.fields,
            &[("shape", 0), ("count", 32), ("scale", 36), ("_pad", 40)]
        );
        assert_eq!(layout.size, 48);
        let params = Params::of(&Example {
            shape: per_dim(&[2, 3, 5, 7, 11]),
            count: 9,
            scale: 0.5,
            ..Default::default()
        });
        assert_eq!(
            params.words,
            [2, 3, 5, 7, 11, 0, 0, 0, 9, 0.5f32.to_bits(), 0, 0]
        );
    }
}
