//! The no-grad flag: while it is set on a thread, ops recorded there carry no gradients.
//! It lives with the graph because recording consults it; autodiff sets it while it adds
//! the backward nodes.

use std::cell::Cell;

thread_local! {
    static NO_GRAD_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether ops recorded now on this thread carry gradients.
pub(crate) fn grad_enabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() == 0)
}

/// Run `f` with gradient tracking off on this thread: ops it records pass no gradients back
/// (optimizer updates, evaluation). Nests.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            NO_GRAD_DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
    let _restore = Restore;
    f()
}
