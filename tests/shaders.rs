//! Every shader file, and every variant the engine renders from it, parses and validates
//! with naga and translates to SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL), so a
//! backend we cannot run here still cannot break silently. Needs no GPU.

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn validate(label: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{label}: {}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{label}: {}", e.emit_to_string(source)));
    (module, info)
}

#[test]
fn every_shader_file_is_registered_and_rendered() {
    let mut on_disk: Vec<String> = std::fs::read_dir("shaders")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = lepton::shaders::files()
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    registered.sort();
    assert_eq!(registered, on_disk, "the registry lists shaders/ exactly");
    let variants = lepton::shaders::rendered().unwrap();
    for (name, text) in lepton::shaders::files() {
        if name == "subgroup_check.wgsl" || name == "peak.wgsl" {
            // The device check and the peak kernels run as written.
            validate(name, text);
        } else {
            assert!(
                variants.iter().any(|v| v.files.contains(&name)),
                "{name} is rendered into some variant"
            );
        }
    }
}

#[test]
fn every_variant_translates_to_every_backend_language() {
    let variants = lepton::shaders::rendered().unwrap();
    assert!(
        variants.len() > 60,
        "unary, binary, select, fill, cast, reduce and matmul variants in f32 and f16"
    );
    for v in variants {
        let (module, info) = validate(&v.label, &v.source);
        let stage = naga::ShaderStage::Compute;
        let uses_f16 = v.source.starts_with("enable f16;");

        spv::write_vec(
            &module,
            &info,
            &spv::Options::default(),
            Some(&spv::PipelineOptions {
                shader_stage: stage,
                entry_point: v.entry.to_string(),
            }),
        )
        .unwrap_or_else(|e| panic!("{} to SPIR-V: {e}", v.label));

        let msl_options = msl::Options {
            lang_version: (2, 4),
            ..Default::default()
        };
        msl::write_string(
            &module,
            &info,
            &msl_options,
            &msl::PipelineOptions {
                entry_point: Some((stage, v.entry.to_string())),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{} to MSL: {e}", v.label));

        let hlsl_options = hlsl::Options {
            shader_model: hlsl::ShaderModel::V6_2,
            ..Default::default()
        };
        let mut hlsl_out = String::new();
        hlsl::Writer::new(
            &mut hlsl_out,
            &hlsl_options,
            &hlsl::PipelineOptions {
                entry_point: Some((stage, v.entry.to_string())),
            },
        )
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("{} to HLSL: {e}", v.label));

        // GL adapters never offer SHADER_F16 or SHADER_INT64 in wgpu, so f16 variants and
        // the eight-wide row reductions (WIDE=1, 64-bit loads) never reach GLSL.
        if !uses_f16 && !v.label.contains("WIDE=1") {
            let mut glsl_out = String::new();
            let options = glsl::Options {
                version: glsl::Version::Desktop(430),
                ..Default::default()
            };
            let pipeline = glsl::PipelineOptions {
                shader_stage: stage,
                entry_point: v.entry.to_string(),
                multiview: None,
            };
            glsl::Writer::new(
                &mut glsl_out,
                &module,
                &info,
                &options,
                &pipeline,
                Default::default(),
            )
            .and_then(|mut w| w.write())
            .unwrap_or_else(|e| panic!("{} to GLSL: {e}", v.label));
        }
    }
}

/// The WGSL struct at binding 0 of `module`, as (member name, byte offset) and its size.
fn wgsl_params(module: &naga::Module) -> Option<(Vec<(String, usize)>, usize)> {
    let (_, var) = module.global_variables.iter().find(|(_, v)| {
        v.binding
            .as_ref()
            .is_some_and(|b| b.group == 0 && b.binding == 0)
    })?;
    match &module.types[var.ty].inner {
        naga::TypeInner::Struct { members, span } => Some((
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                .collect(),
            *span as usize,
        )),
        other => panic!("binding 0 is a {other:?}, not a struct of parameters"),
    }
}

/// Every file but the preludes is rendered (the test above), so every struct is checked.
#[test]
fn every_parameter_struct_matches_its_wgsl_field_for_field() {
    for v in lepton::shaders::rendered().unwrap() {
        let (module, _) = validate(&v.label, &v.source);
        let wgsl = wgsl_params(&module);
        let Some(rust) = v.params else {
            assert!(
                wgsl.is_none(),
                "{}: WGSL parameters with no Rust struct",
                v.label
            );
            continue;
        };
        let (members, span) =
            wgsl.unwrap_or_else(|| panic!("{}: {} but no WGSL parameters", v.label, rust.name));
        let fields: Vec<(String, usize)> = rust
            .fields
            .iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .map(|(name, offset)| (name.to_string(), *offset))
            .collect();
        assert_eq!(
            fields, members,
            "{}: {}'s fields (name, byte offset) against the WGSL struct's",
            v.label, rust.name
        );
        assert_eq!(
            rust.size, span,
            "{}: {} is {} bytes, the WGSL struct {span}",
            v.label, rust.name, rust.size
        );
    }
}
