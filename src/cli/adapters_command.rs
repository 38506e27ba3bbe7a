//! `lepton info`: the adapters wgpu finds and what they offer.

use std::fmt::Write;

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b}"),
    }
}

pub fn run() -> anyhow::Result<()> {
    let adapters = lepton::info::adapters();
    let mut out = String::new();
    if adapters.is_empty() {
        writeln!(out, "No GPU adapters found. Install a GPU driver, or on Debian/Ubuntu a software Vulkan device:")?;
        writeln!(out, "  apt-get install mesa-vulkan-drivers")?;
    }
    for a in &adapters {
        let kind = if a.hardware { "hardware" } else { "software" };
        writeln!(
            out,
            "gpu:{}  {}  ({}, {}, {kind})",
            a.index, a.name, a.backend, a.device_type
        )?;
        if !a.driver.is_empty() {
            writeln!(out, "    driver    {}", a.driver)?;
        }
        let features: Vec<String> = a
            .features
            .iter()
            .map(|(n, on)| format!("{n} {}", if *on { "yes" } else { "no" }))
            .collect();
        writeln!(out, "    features  {}", features.join(", "))?;
        let native = if a.fallbacks.iter().any(|(d, _)| *d == lepton::DType::F16) {
            "f32 and i32"
        } else {
            "f32, i32, and f16 storage with f32 arithmetic"
        };
        writeln!(out, "    kernels   {native}")?;
        for (dtype, why) in &a.fallbacks {
            writeln!(
                out,
                "    fallback  every step on {dtype} runs on the CPU inside the plan ({why}), \
                 its inputs and results copied across"
            )?;
        }
        let rows = match a.row_subgroup {
            Some(size) => format!(
                "lanes combine in subgroups of {size}, then in workgroup memory \
                 (the layout is checked when the device opens)"
            ),
            None => "lanes combine in workgroup memory (no single subgroup size)".to_string(),
        };
        writeln!(out, "    rows      {rows}")?;
        let wide = a.features.iter().any(|(n, on)| *n == "SHADER_INT64" && *on);
        let sums = if wide {
            "dense f32 rows read eight elements a load (vec4<u64>)"
        } else {
            "rows read four elements a load (without SHADER_INT64)"
        };
        writeln!(out, "    sums      {sums}")?;
        let products = match a.row_subgroup {
            Some(size) if size % 8 == 0 => format!(
                "register tiles; eight lanes share their loads of A by subgroup shuffles \
                 (subgroups of {size}; shuffled-* candidates)"
            ),
            _ => "register tiles, each lane loading its own A and B".to_string(),
        };
        writeln!(out, "    matmul    {products}")?;
        if !a.times_candidates {
            writeln!(
                out,
                "    autotune  not timed here: GL runs one context, which has no room for a \
                 timing thread beside the work, so every kernel keeps its default"
            )?;
        }
        for (name, value) in &a.limits {
            let shown = if name.contains("size") && !name.contains("subgroup") {
                human_bytes(*value)
            } else {
                value.to_string()
            };
            writeln!(out, "    {name:<40} {shown}")?;
        }
    }
    writeln!(out, "auto -> {}", lepton::info::auto_choice())?;
    let tuning = if lepton::autotune::enabled() {
        "on: each new class of matrix product, convolution or row kernel runs its default \
         at once and times its candidates once, on a thread of its own"
    } else {
        "off (LEPTON_AUTOTUNE=0): fixed default kernels"
    };
    writeln!(out, "autotune  {tuning}")?;
    let candidates: Vec<String> = lepton::autotune::MatmulKernel::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    writeln!(out, "          candidates {}", candidates.join(", "))?;
    writeln!(
        out,
        "          row kernels {} (default where subgroups are usable), {}",
        lepton::autotune::RowLanes::Subgroup.name(),
        lepton::autotune::RowLanes::Workgroup.name()
    )?;
    match lepton::autotune::cache_file() {
        Some(path) => writeln!(
            out,
            "          {} choices kept in {}",
            lepton::autotune::stored_choices().len(),
            path.display()
        )?,
        None => writeln!(out, "          no cache directory: choices last one run")?,
    }
    print!("{out}");
    Ok(())
}
