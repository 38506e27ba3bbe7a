//! Allocating past what the GPU can hold is `Error::OutOfMemory`, and the device works on
//! afterwards (#18). On lavapipe, device memory is the process's own, which Linux hands out
//! lazily (an allocation past the machine's memory succeeds until it is written): so this
//! test caps the process's address space a little above what it uses (RLIMIT_AS), and the
//! driver's allocation then fails as a full GPU's does. On GL, whose failed allocations
//! wgpu does not report, the engine's own check of each new buffer finds it. It is alone in
//! its binary because the cap holds for the whole process.

mod common;

use lepton::{DType, Error, Tensor};

/// f32 elements in 128 MiB, the most one binding holds on lavapipe.
const BLOCK: usize = 1 << 25;

/// The process's address space in bytes, from /proc/self/status.
#[cfg(target_os = "linux")]
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// A block of `value`, realized on `gpu`.
fn filled(value: f64, gpu: &lepton::Device) -> lepton::Result<Tensor> {
    let t = Tensor::zeros(&[BLOCK], DType::F32, gpu)?.add_scalar(value)?;
    t.realize()?;
    Ok(t)
}

#[cfg(target_os = "linux")]
#[test]
fn allocating_past_the_devices_memory_is_an_error_and_the_device_works_on() {
    let Some(gpu) = common::gpu() else { return };
    // Compile every kernel used below before the cap, so the compiler's memory is in place.
    let warm = filled(1.0, &gpu).unwrap();
    let one_sum = warm.slice(0, 0, 1024, 1).unwrap().sum(&[], false).unwrap();
    assert_eq!(one_sum.item::<f32>().unwrap(), 1024.0);
    drop(warm);
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut old), 0);
        let cap = libc::rlimit {
            rlim_cur: address_space() + (1 << 30),
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &cap), 0);
    }
    let mut held = Vec::new();
    let failure = loop {
        match filled(held.len() as f64, &gpu) {
            Ok(t) => held.push(t),
            Err(e) => break e,
        }
        assert!(held.len() < 64, "8 GiB held under a cap of 1 GiB more");
    };
    assert!(
        matches!(failure, Error::OutOfMemory { bytes, .. } if bytes >= BLOCK as u64 * 4),
        "{failure}"
    );
    println!("held {} blocks of 128 MiB, then: {failure}", held.len());
    // What was held is intact, and once it is let go the device works on.
    for (k, t) in held.iter().enumerate() {
        let head = t.slice(0, 0, 4, 1).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(head, vec![k as f32; 4]);
    }
    held.clear();
    common::assert_works(&gpu);
    let again = filled(7.0, &gpu).unwrap();
    let tail = again
        .slice(0, BLOCK as isize - 2, BLOCK as isize, 1)
        .unwrap();
    assert_eq!(tail.to_vec::<f32>().unwrap(), vec![7.0; 2]);
    // SAFETY: as above.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &old), 0);
    }
}
