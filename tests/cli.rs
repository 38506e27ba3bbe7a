//! The `lepton` binary end to end: training to the documented targets, metrics, plots,
//! checkpoints and resumption.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::{lepton, refused, scratch};

fn metrics(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn info_lists_adapters_and_the_auto_choice() {
    let text = lepton(&["info"]);
    assert!(text.contains("auto ->"), "{text}");
    if common::gpu().is_some() {
        assert!(
            text.contains("gpu:0")
                && text.contains("SHADER_F16")
                && text.contains("max_storage_buffer_binding_size"),
            "{text}"
        );
    }
    // Each adapter's block says when its kernels are not timed: on GL, and only there.
    for block in text.split("gpu:").skip(1) {
        let header = block.lines().next().unwrap_or("");
        let untimed = block.contains("autotune  not timed here");
        assert_eq!(untimed, header.contains("(Gl, "), "{block}");
    }
}

#[test]
fn toy_linear_regression_predicts_8_and_10() {
    let d = scratch("toy");
    let m = d.join("m.json");
    lepton(&[
        "train",
        "linreg",
        "--toy",
        "--device",
        "cpu",
        "--metrics",
        s(&m),
    ]);
    let p = &metrics(&m)["extra"]["predictions"];
    assert!(
        (p["4"].as_f64().unwrap() - 8.0).abs() < 0.01
            && (p["5"].as_f64().unwrap() - 10.0).abs() < 0.01,
        "{p}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn diabetes_regression_matches_least_squares_within_one_percent() {
    let d = scratch("diabetes");
    let m = d.join("m.json");
    lepton(&["train", "linreg", "--device", "cpu", "--metrics", s(&m)]);
    let j = metrics(&m);
    let (got, want) = (
        j["final"]["test_loss"].as_f64().unwrap(),
        j["extra"]["least_squares_test_mse"].as_f64().unwrap(),
    );
    assert!(
        ((got - want) / want).abs() < 0.01,
        "test MSE {got} vs least squares {want}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn mlp_reaches_97_percent_with_a_plot() {
    let d = scratch("mlp");
    let (m, png) = (d.join("m.json"), d.join("curves.png"));
    lepton(&[
        "train",
        "mlp",
        "--device",
        "cpu",
        "--metrics",
        s(&m),
        "--plot",
        s(&png),
    ]);
    let j = metrics(&m);
    let acc = j["final"]["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.97, "test accuracy {acc}");
    assert_eq!(j["history"].as_array().unwrap().len(), 60);
    let seconds = j["seconds"].as_f64().unwrap();
    println!("mlp: {:.2}% in {seconds:.1} s", 100.0 * acc);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    assert!(bytes.len() > 10_000, "a drawn plot, not an empty canvas");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn resume_continues_where_the_checkpoint_left_off() {
    let d = scratch("resume");
    let (ck, a, b) = (d.join("ck.safetensors"), d.join("a.json"), d.join("b.json"));
    lepton(&[
        "train",
        "mlp",
        "--device",
        "cpu",
        "--epochs",
        "4",
        "--metrics",
        s(&a),
    ]);
    lepton(&[
        "train",
        "mlp",
        "--device",
        "cpu",
        "--epochs",
        "4",
        "--stop-after",
        "2",
        "--save",
        s(&ck),
    ]);
    let text = lepton(&[
        "train",
        "mlp",
        "--device",
        "cpu",
        "--epochs",
        "4",
        "--resume",
        s(&ck),
        "--metrics",
        s(&b),
    ]);
    assert!(text.contains("resumed from"), "{text}");
    let (straight, resumed) = (metrics(&a), metrics(&b));
    assert_eq!(
        resumed["history"].as_array().unwrap().len(),
        2,
        "only epochs 3 and 4 ran"
    );
    // The CPU path is deterministic: the resumed run ends exactly where the straight one does.
    assert_eq!(straight["final"], resumed["final"]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A character model resumed mid-run ends exactly where the straight run does, and its
/// checkpoint generates text.
#[test]
fn charlm_resumes_bit_for_bit_and_generates() {
    let d = scratch("charlm");
    let (ck, a, b) = (d.join("ck.safetensors"), d.join("a.json"), d.join("b.json"));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "charlm",
            "--arch",
            "gru",
            "--device",
            "cpu",
            "--iterations",
            "6",
            "--eval-every",
            "3",
        ];
        args.extend(extra);
        lepton(&args)
    };
    run(&["--metrics", s(&a)]);
    run(&["--stop-after", "3", "--save", s(&ck)]);
    let text = run(&["--resume", s(&ck), "--metrics", s(&b)]);
    assert!(text.contains("resumed from"), "{text}");
    let (straight, resumed) = (metrics(&a), metrics(&b));
    assert_eq!(resumed["history"].as_array().unwrap().len(), 1);
    assert_eq!(straight["final"], resumed["final"]);
    let generated = lepton(&[
        "generate",
        "--checkpoint",
        s(&ck),
        "--prompt",
        "KING:",
        "--tokens",
        "40",
        "--device",
        "cpu",
    ]);
    assert!(generated.starts_with("KING:"), "{generated}");
    assert!(generated.chars().count() > 40, "{generated}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn training_runs_on_the_gpu() {
    if common::gpu().is_none() {
        return;
    }
    let d = scratch("gpu");
    let m = d.join("m.json");
    lepton(&[
        "train",
        "mlp",
        "--device",
        "gpu",
        "--epochs",
        "2",
        "--metrics",
        s(&m),
    ]);
    let h = metrics(&m)["history"].as_array().unwrap().clone();
    let (first, last) = (
        h[0]["train_loss"].as_f64().unwrap(),
        h[1]["train_loss"].as_f64().unwrap(),
    );
    assert!(
        last < first && h[1]["test_accuracy"].as_f64().unwrap() > 0.8,
        "{h:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn cnn_learns_digits() {
    let d = scratch("cnn");
    let m = d.join("m.json");
    lepton(&[
        "train",
        "cnn",
        "--device",
        "cpu",
        "--epochs",
        "3",
        "--metrics",
        s(&m),
    ]);
    let j = metrics(&m);
    let acc = j["final"]["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "test accuracy after 3 epochs: {acc}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn recurrent_families_learn_digits_as_sequences() {
    let d = scratch("recurrent");
    for family in ["rnn", "lstm", "gru"] {
        let m = d.join(format!("{family}.json"));
        lepton(&[
            "train",
            family,
            "--device",
            "cpu",
            "--epochs",
            "8",
            "--metrics",
            s(&m),
        ]);
        let j = metrics(&m);
        // 93–95% after 8 of the 40 default epochs (98% at the end).
        let acc = j["final"]["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.9, "{family}: test accuracy after 8 epochs: {acc}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn qlearn_reaches_the_target_and_resumes_exactly() {
    let d = scratch("qlearn");
    let (ck, a, b, png) = (
        d.join("q.safetensors"),
        d.join("a.json"),
        d.join("b.json"),
        d.join("q.png"),
    );
    let text = lepton(&["train", "qlearn", "--metrics", s(&a), "--plot", s(&png)]);
    assert!(text.contains("greedy success"), "{text}");
    let m = metrics(&a);
    let greedy = m["final"]["greedy_success"].as_f64().unwrap();
    assert!(greedy >= 0.70, "{greedy}");
    assert!(m["final"]["exact_greedy_success"].as_f64().unwrap() > 0.74);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    // Half the episodes, saved; then the rest from the checkpoint: the same final table.
    lepton(&["train", "qlearn", "--stop-after", "20000", "--save", s(&ck)]);
    let text = lepton(&["train", "qlearn", "--resume", s(&ck), "--metrics", s(&b)]);
    assert!(text.contains("resumed from"), "{text}");
    assert_eq!(metrics(&a)["final"], metrics(&b)["final"]);
    assert_eq!(metrics(&b)["history"].as_array().unwrap().len(), 10);
    // A checkpoint of another run length or seed is refused, with the reason.
    let refused = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args(["train", "qlearn", "--resume", s(&ck), "--seed", "3"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--seed"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dqn_trains_resumes_exactly_and_refuses_bad_values() {
    let d = scratch("dqn");
    let (ck, a, b, png) = (
        d.join("dqn.safetensors"),
        d.join("a.json"),
        d.join("b.json"),
        d.join("dqn.png"),
    );
    let short = [
        "train",
        "dqn",
        "--iterations",
        "3000",
        "--eval-every",
        "1000",
    ];
    let text = lepton(&[&short[..], &["--metrics", s(&a), "--plot", s(&png)]].concat());
    assert!(text.contains("greedy return"), "{text}");
    let m = metrics(&a);
    assert_eq!(m["environment_steps"], 3000);
    assert_eq!(m["history"].as_array().unwrap().len(), 3);
    assert!(m["final"]["held_out_mean_return"].as_f64().unwrap() >= 8.0);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    // A third of the steps, saved; then the rest from the checkpoint: the same run.
    lepton(&[&short[..], &["--stop-after", "1000", "--save", s(&ck)]].concat());
    let text = lepton(&[&short[..], &["--resume", s(&ck), "--metrics", s(&b)]].concat());
    assert!(text.contains("resumed from"), "{text}");
    assert_eq!(metrics(&a)["final"], metrics(&b)["final"]);
    assert_eq!(metrics(&a)["history"][2], metrics(&b)["history"][1]);
    // --eval reports the checkpoint's figures and trains nothing.
    let text = lepton(&[&short[..], &["--resume", s(&ck), "--eval"]].concat());
    assert!(text.contains("held-out episodes"), "{text}");
    assert!(!text.contains("step   "), "{text}");
    // Bad values and unwritable outputs are refused before any training.
    let missing = d.join("no-such-folder").join("m.json");
    for bad in [
        &["--stop-at-return", "nan"][..],
        &["--eval-every", "0"],
        &["--batch-size", "0"],
        &["--lr", "-1"],
        &["--metrics", s(&missing)],
        &["--epochs", "3"],
        &["--resume", s(&ck), "--seed", "1"],
    ] {
        refused(&[&short[..], bad].concat(), "step ");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn policy_gradients_train_resume_exactly_and_refuse_bad_values() {
    let d = scratch("policy-gradient");
    for (family, length, every, part) in [
        ("reinforce", "40", "8", "16"),
        ("a2c", "4000", "1000", "2000"),
        ("ppo", "4096", "1024", "2048"),
    ] {
        let (ck, a, b, png) = (
            d.join(format!("{family}.safetensors")),
            d.join(format!("{family}-a.json")),
            d.join(format!("{family}-b.json")),
            d.join(format!("{family}.png")),
        );
        let short = [
            "train",
            family,
            "--iterations",
            length,
            "--eval-every",
            every,
        ];
        let text = lepton(&[&short[..], &["--metrics", s(&a), "--plot", s(&png)]].concat());
        assert!(text.contains("episode return"), "{text}");
        let m = metrics(&a);
        assert_eq!(m["progress"].to_string(), length, "{family}");
        let reports = length.parse::<usize>().unwrap() / every.parse::<usize>().unwrap();
        assert_eq!(m["history"].as_array().unwrap().len(), reports, "{family}");
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
        // Part of the run, saved; then the rest from the checkpoint: the same run.
        lepton(&[&short[..], &["--stop-after", part, "--save", s(&ck)]].concat());
        let text = lepton(&[&short[..], &["--resume", s(&ck), "--metrics", s(&b)]].concat());
        assert!(text.contains("resumed from"), "{text}");
        assert_eq!(metrics(&a)["final"], metrics(&b)["final"], "{family}");
        let missing = d.join("no-such-folder").join("p.png");
        for bad in [
            &["--stop-at-return", "nan"][..],
            &["--lr", "0"],
            &["--plot", s(&missing)],
            &["--arch", "lstm"],
            &["--resume", s(&ck), "--seed", "9"],
        ] {
            refused(&[&short[..], bad].concat(), "episode return");
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn vae_trains_resumes_exactly_and_draws_its_digits() {
    let d = scratch("vae");
    let (ck, a, b, png, grid) = (
        d.join("vae.safetensors"),
        d.join("a.json"),
        d.join("b.json"),
        d.join("vae.png"),
        d.join("digits.png"),
    );
    let short = ["train", "vae", "--epochs", "6"];
    let text = lepton(
        &[
            &short[..],
            &["--metrics", s(&a), "--plot", s(&png), "--images", s(&grid)],
        ]
        .concat(),
    );
    assert!(text.contains("test negative ELBO"), "{text}");
    let m = metrics(&a);
    let nelbo = m["final"]["test_negative_elbo"].as_f64().unwrap();
    assert!(
        nelbo < m["final"]["pixel_mean_baseline"].as_f64().unwrap(),
        "{nelbo}"
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    assert!(std::fs::metadata(&grid).unwrap().len() > 1000);
    // Half the epochs, saved; then the rest from the checkpoint: the same run.
    lepton(&[&short[..], &["--stop-after", "3", "--save", s(&ck)]].concat());
    let finished = d.join("finished.safetensors");
    let rest = [
        "--resume",
        s(&ck),
        "--metrics",
        s(&b),
        "--save",
        s(&finished),
    ];
    let text = lepton(&[&short[..], &rest].concat());
    assert!(text.contains("resumed from"), "{text}");
    assert_eq!(metrics(&a)["final"], metrics(&b)["final"]);
    // --eval of the finished run gives its final figure again, training nothing.
    let c = d.join("c.json");
    let eval = ["--resume", s(&finished), "--eval", "--metrics", s(&c)];
    let text = lepton(&[&short[..], &eval].concat());
    assert!(!text.contains(": train "), "{text}");
    assert_eq!(metrics(&c)["final"], metrics(&a)["final"]);
    let missing = d.join("no-such-folder").join("g.png");
    for bad in [
        &["--batch-size", "0"][..],
        &["--lr", "nan"],
        &["--images", s(&missing)],
        &["--iterations", "5"],
        &["--resume", s(&ck), "--seed", "4"],
        &["--eval"],
        &["--resume", s(&ck), "--eval", "--save", s(&ck)],
    ] {
        refused(&[&short[..], bad].concat(), "test negative ELBO");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn gan_trains_resumes_exactly_and_draws_its_samples() {
    let d = scratch("gan");
    let (ck, finished, a, b, png, dots) = (
        d.join("gan.safetensors"),
        d.join("finished.safetensors"),
        d.join("a.json"),
        d.join("b.json"),
        d.join("gan.png"),
        d.join("dots.png"),
    );
    let short = ["train", "gan", "--iterations", "40", "--eval-every", "20"];
    let outputs = ["--metrics", s(&a), "--plot", s(&png), "--images", s(&dots)];
    let text = lepton(&[&short[..], &outputs].concat());
    assert!(text.contains("high-quality"), "{text}");
    assert_eq!(metrics(&a)["history"].as_array().unwrap().len(), 2);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    assert!(std::fs::metadata(&dots).unwrap().len() > 1000);
    // Half the steps, saved; then the rest from the checkpoint: the same run.
    lepton(&[&short[..], &["--stop-after", "20", "--save", s(&ck)]].concat());
    let rest = [
        "--resume",
        s(&ck),
        "--metrics",
        s(&b),
        "--save",
        s(&finished),
    ];
    let text = lepton(&[&short[..], &rest].concat());
    assert!(text.contains("resumed from"), "{text}");
    assert_eq!(metrics(&a)["final"], metrics(&b)["final"]);
    let text = lepton(&[&short[..], &["--resume", s(&finished), "--eval"]].concat());
    assert!(text.contains("of 8 modes"), "{text}");
    assert!(!text.contains("step     "), "{text}");
    for bad in [
        &["--batch-size", "0"][..],
        &["--batch-size", "7"],
        &["--lr", "inf"],
        &["--eval-every", "0"],
        &["--epochs", "2"],
        &["--resume", s(&ck), "--seed", "3"],
    ] {
        refused(&[&short[..], bad].concat(), "high-quality");
    }
    refused(&["train", "linreg", "--toy", "--images", s(&dots)], "epoch");
    // The digits: a short run writes its grid of samples; gan's --data is the ring or the
    // digits, and a digits checkpoint does not resume a ring run.
    let (grid, digits_ck) = (d.join("digits.png"), d.join("digits.safetensors"));
    let digits = [
        "train",
        "gan",
        "--data",
        "digits",
        "--iterations",
        "20",
        "--eval-every",
        "10",
    ];
    let outputs = ["--images", s(&grid), "--save", s(&digits_ck)];
    let text = lepton(&[&digits[..], &outputs].concat());
    assert!(
        text.contains("of 10 digits") && text.contains("Frechet distance"),
        "{text}"
    );
    assert!(std::fs::metadata(&grid).unwrap().len() > 1000);
    refused(&["train", "gan", "--data", "fashion-mnist"], "epoch");
    refused(&["train", "linreg", "--data", "digits"], "epoch");
    refused(
        &[&short[..], &["--resume", s(&digits_ck)]].concat(),
        "high-quality",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let d = scratch("diverge");
    let ck = d.join("ck.safetensors");
    let args = ["train", "linreg", "--device", "cpu", "--lr", "1e30"];
    let out = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args([&args[..], &["--save", s(&ck)]].concat())
        .env("LEPTON_AUTOTUNE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a diverging run reported success");
    assert!(
        stderr.contains("the loss became inf in epoch 2, step 1"),
        "{stderr}"
    );
    // The first epoch's checkpoint is whole: it loads and evaluates.
    let text = lepton(&[
        "train",
        "linreg",
        "--device",
        "cpu",
        "--resume",
        s(&ck),
        "--eval",
    ]);
    assert!(
        text.contains("resumed from") && text.contains("after epoch 1"),
        "{text}"
    );
    // The VAE stops the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args([
            "train", "vae", "--device", "cpu", "--lr", "1e30", "--epochs", "3",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a diverging VAE reported success");
    assert!(
        stderr.contains("the loss became NaN in epoch 1, step 2"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
