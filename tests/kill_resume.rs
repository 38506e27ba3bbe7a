//! Crash-safe checkpoints, proven: `lepton train mlp --save` is killed with SIGKILL at
//! random moments, half of them as soon as a save has begun, and resumed from its checkpoint, again and
//! again until a run finishes. After every kill the checkpoint, where one was written,
//! loads; at the end it holds the same bytes as the checkpoint of a run never interrupted.
//! A kill during a save leaves only a hidden temporary file named after the writing
//! process, which no load of the checkpoint's path reads. The seed of the kill times is
//! printed, so a failure can be replayed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lepton::checkpoint;
use lepton::Device;

/// Campaigns of kills, each ending with a run that finished.
const CAMPAIGNS: usize = 6;
/// Kill times after the start of a run, in ms: from before the first save to past the end
/// of an uninterrupted run (about 1 s here).
const EARLIEST: u64 = 20;
const LATEST: u64 = 700;

fn train(dir: &Path, save: &str, resume: bool) -> std::process::Child {
    let mut args = vec!["train", "mlp", "--device", "cpu", "--save", save];
    if resume {
        args.extend(["--resume", save]);
    }
    Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args(&args)
        .current_dir(dir)
        .env("LEPTON_AUTOTUNE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// Whether a save of the run's checkpoint is under way: its temporary file exists.
fn saving(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".run.safetensors.tmp-")
    })
}

/// xorshift64*: the kill times, fixed by the seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_checkpoint() {
    let dir = std::env::temp_dir().join(format!("lepton-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = train(&dir, "whole.safetensors", false).wait().unwrap();
    assert!(status.success(), "the uninterrupted run: {status}");
    let whole = std::fs::read(dir.join("whole.safetensors")).unwrap();

    let seed = 0x5eed_0001_u64;
    println!("kill times from seed {seed:#x}");
    let mut state = seed;
    let (mut runs, mut kills, mut during_save) = (0, 0, 0);
    let path = dir.join("run.safetensors");
    for campaign in 0..CAMPAIGNS {
        let _ = std::fs::remove_file(&path);
        loop {
            runs += 1;
            assert!(runs < 500, "campaign {campaign} never finished");
            let mut child = train(&dir, "run.safetensors", path.exists());
            let delay = EARLIEST + next(&mut state) % (LATEST - EARLIEST);
            std::thread::sleep(Duration::from_millis(delay));
            // Every other run is killed as soon as a save's temporary file appears after
            // the delay, which a random moment alone would rarely hit.
            if runs % 2 == 0 {
                while !saving(&dir) && child.try_wait().unwrap().is_none() {}
            }
            // SIGKILL, unless the run ended first (then its exit status says so).
            let _ = child.kill();
            let status = child.wait().unwrap();
            if status.success() {
                break;
            }
            kills += 1;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.starts_with(".run.safetensors.tmp-") {
                    during_save += 1;
                    std::fs::remove_file(dir.join(&name)).unwrap();
                } else {
                    assert!(
                        name == "whole.safetensors" || name == "run.safetensors",
                        "an unexpected file after a kill: {name}"
                    );
                }
            }
            if path.exists() {
                checkpoint::load(&path, &Device::cpu()).unwrap_or_else(|e| {
                    panic!("the checkpoint after kill {kills} ({delay} ms) does not load: {e}")
                });
            }
        }
        assert!(
            std::fs::read(&path).unwrap() == whole,
            "campaign {campaign}: the resumed run's checkpoint differs from the uninterrupted one"
        );
    }
    println!(
        "{kills} kills over {runs} runs in {CAMPAIGNS} campaigns, {during_save} during a save; \
         every checkpoint loaded, every campaign ended with the uninterrupted run's bytes"
    );
    assert!(
        kills >= 2 * CAMPAIGNS,
        "too few kills to prove anything: {kills}"
    );
    assert!(during_save > 0, "no kill landed during a save");
    std::fs::remove_dir_all(&dir).unwrap();
}
