//! The async API: futures that give what the blocking calls give, wake their task when the
//! device is done (no polling loop needed), and carry errors.

mod common;

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::*;
use lepton::{DType, Error, Tensor};

/// A waker that records its wake-ups for a thread waiting on it.
#[derive(Default)]
struct Flag {
    woken: Mutex<bool>,
    signal: Condvar,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.signal.notify_all();
    }
}

on_every_device! {
    fn futures_give_what_the_blocking_calls_give(device) {
        let x = tensor(&data(33 * 17, 4, -1.0, 1.0), &[33, 17], DType::F32, &device);
        let w = tensor(&data(17 * 5, 5, -1.0, 1.0), &[17, 5], DType::F32, &device);
        let y = x.matmul(&w).unwrap().softmax(-1).unwrap();
        // Two futures made before either is awaited; a strided view; an empty tensor; i32.
        let first = y.to_vec_async::<f32>();
        let view = y.transpose(0, 1).unwrap();
        let second = view.to_vec_async::<f32>();
        let empty = x.slice(0, 3, 3, 1).unwrap().to_vec_async::<f32>();
        let classes = y.argmax(Some(1), false).unwrap();
        let indices = classes.to_vec_async::<i32>();
        assert_eq!(pollster::block_on(second).unwrap(), view.to_vec::<f32>().unwrap());
        assert_eq!(pollster::block_on(first).unwrap(), y.to_vec::<f32>().unwrap());
        assert_eq!(pollster::block_on(empty).unwrap(), Vec::<f32>::new());
        assert_eq!(pollster::block_on(indices).unwrap(), classes.to_vec::<i32>().unwrap());
        let z = x.exp().sum(&[0], false).unwrap();
        pollster::block_on(z.realize_async()).unwrap();
        let both = lepton::realize_async(&[&z, &y]);
        pollster::block_on(both).unwrap();
        assert_eq!(z.to_vec::<f32>().unwrap().len(), 17);
    }
}

on_every_device! {
    fn a_pending_future_is_woken_when_its_bytes_arrive(device) {
        let x = tensor(&data(256 * 256, 6, -1.0, 1.0), &[256, 256], DType::F32, &device);
        let y = x.matmul(&x).unwrap().tanh();
        let want = y.to_vec::<f32>().unwrap();
        let z = x.matmul(&x).unwrap().tanh();
        let mut future = Box::pin(z.to_vec_async::<f32>());
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let got = loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(got) => break got.unwrap(),
                // Polled again only once woken: a future that never wakes fails here.
                Poll::Pending => {
                    let woken = flag.woken.lock().unwrap();
                    let (mut woken, timeout) = flag
                        .signal
                        .wait_timeout_while(woken, Duration::from_secs(120), |w| !*w)
                        .unwrap();
                    assert!(!timeout.timed_out(), "the future was never woken on {device}");
                    *woken = false;
                }
            }
        };
        assert_eq!(got, want);
    }
}

on_every_device! {
    fn a_future_carries_its_error(device) {
        let x = Tensor::ones(&[4], DType::F32, &device).unwrap();
        let error = pollster::block_on(x.to_vec_async::<i32>()).unwrap_err();
        assert!(matches!(error, Error::DtypeMismatch { op: "to_vec_async", .. }), "{error}");
    }
}
