//! The bad-input corpus's bookkeeping (#18): every case runs under `catch_unwind`, so a panic
//! is counted as a failure, not an abort, and the run ends with how many cases ran.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lepton::{DType, Device, Error, Tensor};

/// The cases run so far and what went wrong in them.
#[derive(Default)]
pub struct Corpus {
    pub cases: usize,
    pub failures: Vec<String>,
}

impl Corpus {
    /// Run `case`, which returns the error it got; `expected` says whether that is the
    /// right one.
    pub fn check(
        &mut self,
        name: &str,
        case: impl FnOnce() -> Option<Error>,
        expected: impl Fn(&Error) -> bool,
    ) {
        self.cases += 1;
        match catch_unwind(AssertUnwindSafe(case)) {
            Err(_) => self.failures.push(format!("{name}: panicked")),
            Ok(None) => self.failures.push(format!("{name}: accepted")),
            Ok(Some(e)) if !expected(&e) => self.failures.push(format!("{name}: {e:?}")),
            Ok(Some(_)) => {}
        }
    }

    /// Run `case`, which must be refused with an error that `expected` accepts.
    pub fn refuse<T>(
        &mut self,
        name: &str,
        case: impl FnOnce() -> lepton::Result<T>,
        expected: impl Fn(&Error) -> bool,
    ) {
        self.check(name, || case().err(), expected);
    }

    /// Run `case`, which returns whether its result is the documented one.
    pub fn holds(&mut self, name: &str, case: impl FnOnce() -> lepton::Result<bool>) {
        self.cases += 1;
        match catch_unwind(AssertUnwindSafe(case)) {
            Err(_) => self.failures.push(format!("{name}: panicked")),
            Ok(Err(e)) => self.failures.push(format!("{name}: {e}")),
            Ok(Ok(false)) => self
                .failures
                .push(format!("{name}: not the documented result")),
            Ok(Ok(true)) => {}
        }
    }

    /// Print the count, and fail listing every case that went wrong.
    pub fn finish(self, what: &str) {
        println!("{} {what}, {} failed", self.cases, self.failures.len());
        assert!(
            self.failures.is_empty(),
            "{} of {} {what} failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}

pub fn shape_error(e: &Error) -> bool {
    matches!(e, Error::ShapeMismatch { .. })
}

/// A shape that does not fit, or a shape the op takes none of (a vector for `tril`).
pub fn shape_or_invalid(e: &Error) -> bool {
    shape_error(e) || invalid(e)
}

pub fn axis_error(e: &Error) -> bool {
    matches!(
        e,
        Error::AxisOutOfRange { .. } | Error::InvalidArgument { .. }
    )
}

pub fn invalid(e: &Error) -> bool {
    matches!(e, Error::InvalidArgument { .. })
}

pub fn dtype_error(e: &Error) -> bool {
    matches!(
        e,
        Error::DtypeMismatch { .. } | Error::WrongDtype { .. } | Error::UnsupportedDtype { .. }
    )
}

pub fn zeros(shape: &[usize], device: &Device) -> Tensor {
    Tensor::zeros(shape, DType::F32, device).unwrap()
}

pub fn indices(values: &[i32], shape: &[usize], device: &Device) -> Tensor {
    Tensor::from_slice(values, shape, device).unwrap()
}

/// Realize `t`, so that errors found only when it runs (an index past its axis on the CPU
/// path) are reached.
pub fn run(t: lepton::Result<Tensor>) -> lepton::Result<Tensor> {
    let t = t?;
    t.realize()?;
    Ok(t)
}
