//! `lepton onnx check MODEL` and `lepton onnx run MODEL --input [NAME=]FILE.npy ...`: what
//! an ONNX model uses and whether the engine lowers it, and its outputs on given inputs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lepton::onnx::OnnxModel;

#[derive(Args)]
pub struct OnnxArgs {
    #[command(subcommand)]
    command: OnnxCommand,
}

#[derive(Subcommand)]
enum OnnxCommand {
    /// List the model's inputs, outputs and ops, and every op the engine cannot lower with
    /// the nodes that use it; exits non-zero when there is one.
    Check { model: PathBuf },
    /// Run the model on inputs from .npy files and print (or save) its outputs.
    Run {
        model: PathBuf,
        /// An input as `NAME=FILE.npy`, or `FILE.npy` for the inputs in the model's order.
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
        /// cpu, gpu, gpu:N or auto (default: LEPTON_DEVICE, else auto).
        #[arg(long)]
        device: Option<String>,
        /// Write the outputs to this .npz archive (by output name).
        #[arg(long)]
        save: Option<PathBuf>,
    },
}

pub fn run(args: OnnxArgs) -> anyhow::Result<()> {
    match args.command {
        OnnxCommand::Check { model } => check(&model),
        OnnxCommand::Run {
            model,
            inputs,
            device,
            save,
        } => run_model(&model, &inputs, device.as_deref(), save),
    }
}

fn shape_text(shape: &Option<Vec<Option<usize>>>) -> String {
    match shape {
        None => "unknown shape".into(),
        Some(dims) => {
            let dims: Vec<String> = dims
                .iter()
                .map(|d| d.map_or("?".to_string(), |n| n.to_string()))
                .collect();
            format!("[{}]", dims.join(", "))
        }
    }
}

fn check(path: &Path) -> anyhow::Result<()> {
    let model = OnnxModel::load(path)?;
    let opset = model.opset().map_or("none".to_string(), |v| v.to_string());
    println!("{}: opset {opset}", path.display());
    for (name, shape) in model.inputs() {
        println!("input  {name} {}", shape_text(&shape));
    }
    for name in model.outputs() {
        println!("output {name}");
    }
    let counts = model.op_counts();
    let nodes: usize = counts.iter().map(|(_, n)| n).sum();
    let unsupported = model.unsupported();
    println!("{nodes} nodes of {} op types:", counts.len());
    for (op, n) in &counts {
        let lowered = unsupported.iter().all(|u| &u.op_type != op);
        println!(
            "  {op:<24} {n:>5}  {}",
            if lowered { "lowered" } else { "UNSUPPORTED" }
        );
    }
    if unsupported.is_empty() {
        println!("every op lowers to the engine's");
        return Ok(());
    }
    for u in &unsupported {
        let domain = if u.domain.is_empty() {
            String::new()
        } else {
            format!(" (domain {})", u.domain)
        };
        let count = match u.nodes.len() {
            1 => "1 node".to_string(),
            n => format!("{n} nodes"),
        };
        println!(
            "unsupported {}{domain}: {count}: {}",
            u.op_type,
            u.nodes.join(", ")
        );
    }
    bail!("{} op types the engine does not lower", unsupported.len())
}

fn run_model(
    path: &Path,
    inputs: &[String],
    device: Option<&str>,
    save: Option<PathBuf>,
) -> anyhow::Result<()> {
    let model = OnnxModel::load(path)?;
    let device = super::device(device)?;
    let wanted = model.inputs();
    let mut given = Vec::new();
    for (i, spec) in inputs.iter().enumerate() {
        let (name, file) = match spec.split_once('=') {
            Some((name, file)) => (name.to_string(), file),
            None => match wanted.get(i) {
                Some((name, _)) => (name.clone(), spec.as_str()),
                None => bail!(
                    "{} inputs given, the model takes {}",
                    inputs.len(),
                    wanted.len()
                ),
            },
        };
        let tensor =
            lepton::npy::read(Path::new(file), &device).with_context(|| format!("input {name}"))?;
        given.push((name, tensor));
    }
    let named: Vec<(&str, lepton::Tensor)> =
        given.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let outputs = model.run(&named, &device)?;
    let tensors: Vec<&lepton::Tensor> = outputs.iter().map(|(_, t)| t).collect();
    lepton::realize(&tensors)?;
    for (name, t) in &outputs {
        let values = t.cast(lepton::DType::F64)?.to_vec::<f64>()?;
        let shown: Vec<String> = values.iter().take(8).map(|v| format!("{v:.6}")).collect();
        let more = if values.len() > 8 { ", ..." } else { "" };
        println!(
            "{name} {:?} {}: [{}{more}]",
            t.shape(),
            t.dtype(),
            shown.join(", ")
        );
    }
    if let Some(file) = save {
        let arrays: Vec<(&str, &lepton::Tensor)> =
            outputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        lepton::npz::write(&file, &arrays, lepton::npz::Compression::Stored)?;
        println!("outputs saved to {}", file.display());
    }
    Ok(())
}
