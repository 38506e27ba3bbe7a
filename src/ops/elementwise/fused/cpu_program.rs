//! The CPU path's form of a fused kernel: three-address instructions over blocks. An
//! instruction reads inputs where they lie (a dense f32 or f64 input is not copied) and
//! writes its result in place of an operand it consumes when it can. Adam's parameter
//! update runs in 8 passes over each block this way; evaluating the tree by copying every
//! operand into scratch took 17. A value's register is kept to the end: later values may
//! read it, and the caller stores it.

use crate::ops::elementwise::fused::{Expr, Kernel};
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::storage::arithmetic::Real;

/// Where an instruction reads a block: an input (dense or a filled scalar) or a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Val {
    Input(usize),
    Reg(usize),
}

#[derive(Debug)]
enum Instr {
    Unary(UnaryOp, Val, usize),
    Binary(BinaryOp, Val, Val, usize),
    /// cond, then, else, destination
    Where(Val, Val, Val, usize),
}

#[derive(Debug)]
pub(super) struct Program {
    instrs: Vec<Instr>,
    registers: usize,
    results: Vec<Val>,
}

struct Compiler {
    instrs: Vec<Instr>,
    registers: usize,
    free: Vec<usize>,
    /// Where each value computed so far lies; its register is never reused.
    results: Vec<Val>,
}

impl Compiler {
    fn fresh(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.registers += 1;
            self.registers - 1
        })
    }

    /// A register holding an intermediate, which its one reader may overwrite (the
    /// expression is a tree), unlike a value's.
    fn temporary(&self, v: Val) -> Option<usize> {
        match v {
            Val::Reg(r) if !self.results.contains(&v) => Some(r),
            _ => None,
        }
    }

    /// Reading a temporary frees its register.
    fn release(&mut self, v: Val) {
        if let Some(r) = self.temporary(v) {
            self.free.push(r);
        }
    }

    fn emit(&mut self, e: &Expr) -> Val {
        match e {
            Expr::Input(k) => Val::Input(*k),
            Expr::Value(j) => self.results[*j],
            Expr::Unary(op, a) => {
                let a = self.emit(a);
                let dst = match self.temporary(a) {
                    Some(r) => r,
                    None => self.fresh(),
                };
                self.instrs.push(Instr::Unary(*op, a, dst));
                Val::Reg(dst)
            }
            Expr::Binary(op, a, b) => {
                let a = self.emit(a);
                let b = self.emit(b);
                let dst = match (self.temporary(a), self.temporary(b)) {
                    (Some(r), _) => {
                        self.release(b);
                        r
                    }
                    (None, Some(r)) => r,
                    (None, None) => self.fresh(),
                };
                self.instrs.push(Instr::Binary(*op, a, b, dst));
                Val::Reg(dst)
            }
            Expr::Where(c, a, b) => {
                let (c, a, b) = (self.emit(c), self.emit(a), self.emit(b));
                let dst = self.fresh();
                [c, a, b].into_iter().for_each(|v| self.release(v));
                self.instrs.push(Instr::Where(c, a, b, dst));
                Val::Reg(dst)
            }
        }
    }
}

impl Program {
    pub fn compile(kernel: &Kernel) -> Program {
        let mut c = Compiler {
            instrs: Vec::new(),
            registers: 0,
            free: Vec::new(),
            results: Vec::new(),
        };
        for expr in &kernel.values {
            let v = c.emit(expr);
            c.results.push(v);
        }
        Program {
            instrs: c.instrs,
            registers: c.registers,
            results: c.results,
        }
    }

    /// Where each value lies after a run.
    pub fn results(&self) -> &[Val] {
        &self.results
    }

    /// Registers a run needs, each one block long.
    pub fn registers(&self) -> usize {
        self.registers
    }

    /// Run over one block of `n` elements: `input(k)` is input k's block, `regs` the
    /// registers. Where the CPU has AVX-512 or AVX2, the loops are compiled for it: eight
    /// or four f64 lanes (sixteen or eight f32) instead of SSE's two, the same IEEE
    /// operations lane by lane, so the same results. GELU and its derivative, which run in
    /// f64, took a third less time with AVX-512 than with AVX2 in the baby GPT's step.
    pub fn run<'a, R: Real + 'a>(
        &self,
        n: usize,
        input: &impl Fn(usize) -> &'a [R],
        regs: &mut [Vec<R>],
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::storage::vector_width::avx512() {
            // SAFETY: the CPU has these AVX-512 extensions, checked just above.
            return unsafe { self.run_avx512(n, input, regs) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.run_avx2(n, input, regs) };
        }
        self.run_portable(n, input, regs)
    }

    // With AVX-512F alone, LLVM fails to select a mask instruction in these loops.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
    unsafe fn run_avx512<'a, R: Real + 'a>(
        &self,
        n: usize,
        input: &impl Fn(usize) -> &'a [R],
        regs: &mut [Vec<R>],
    ) {
        self.run_portable(n, input, regs)
    }

    // With FMA: erf's fused multiply-adds (storage/fast_erf.rs) are otherwise calls to libm.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2<'a, R: Real + 'a>(
        &self,
        n: usize,
        input: &impl Fn(usize) -> &'a [R],
        regs: &mut [Vec<R>],
    ) {
        self.run_portable(n, input, regs)
    }

    #[inline(always)]
    fn run_portable<'a, R: Real + 'a>(
        &self,
        n: usize,
        input: &impl Fn(usize) -> &'a [R],
        regs: &mut [Vec<R>],
    ) {
        for instr in &self.instrs {
            match *instr {
                Instr::Unary(op, a, dst) => {
                    let mut out = std::mem::take(&mut regs[dst]);
                    match a {
                        Val::Reg(r) if r == dst => op.apply(&mut out[..n]),
                        _ => op.apply_to(&mut out[..n], read(a, n, input, regs)),
                    }
                    regs[dst] = out;
                }
                Instr::Binary(op, a, b, dst) => {
                    let mut out = std::mem::take(&mut regs[dst]);
                    if a == Val::Reg(dst) {
                        op.apply(&mut out[..n], read(b, n, input, regs));
                    } else if b == Val::Reg(dst) {
                        op.apply_rev(read(a, n, input, regs), &mut out[..n]);
                    } else {
                        let (a, b) = (read(a, n, input, regs), read(b, n, input, regs));
                        op.apply_to(&mut out[..n], a, b);
                    }
                    regs[dst] = out;
                }
                Instr::Where(c, a, b, dst) => {
                    let mut out = std::mem::take(&mut regs[dst]);
                    let (c, a, b) = (
                        read(c, n, input, regs),
                        read(a, n, input, regs),
                        read(b, n, input, regs),
                    );
                    for (j, o) in out[..n].iter_mut().enumerate() {
                        *o = if c[j] != R::k(0.0) { a[j] } else { b[j] };
                    }
                    regs[dst] = out;
                }
            }
        }
    }
}

/// The block `v` names (registers other than the one being written).
pub(super) fn read<'r, 'a: 'r, R: 'a>(
    v: Val,
    n: usize,
    input: &impl Fn(usize) -> &'a [R],
    regs: &'r [Vec<R>],
) -> &'r [R] {
    match v {
        Val::Input(k) => &input(k)[..n],
        Val::Reg(r) => &regs[r][..n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(k: usize) -> Box<Expr> {
        Box::new(Expr::Input(k))
    }

    /// The program's results against the trees evaluated element by element, for a kernel
    /// that exercises in-place, reversed and three-address forms, `where`, and a second
    /// output that reads the first twice (so the first's register must survive).
    #[test]
    fn a_program_computes_what_its_trees_do() {
        use BinaryOp::*;
        let inner = Expr::Binary(
            Mul,
            input(1),
            Box::new(Expr::Unary(UnaryOp::Sqrt, input(2))),
        );
        let first = Expr::Binary(
            Sub,
            input(0),
            Box::new(Expr::Where(
                Box::new(Expr::Binary(Gt, input(0), input(1))),
                Box::new(Expr::Binary(Div, Box::new(inner), input(3))),
                Box::new(Expr::Binary(Add, input(3), input(0))),
            )),
        );
        let second = Expr::Binary(
            Add,
            Box::new(Expr::Unary(UnaryOp::Neg, Box::new(Expr::Value(0)))),
            Box::new(Expr::Binary(Mul, Box::new(Expr::Value(0)), input(2))),
        );
        let program = Program::compile(&Kernel {
            values: vec![first, second],
            stored: vec![true, true],
        });
        let data: Vec<Vec<f64>> = (0..4)
            .map(|k| {
                (0..7)
                    .map(|i| (i * 5 + k * 3) as f64 % 11.0 + 0.5)
                    .collect()
            })
            .collect();
        let mut regs = vec![vec![0.0; 7]; program.registers()];
        let lookup = |k: usize| data[k].as_slice();
        program.run(7, &lookup, &mut regs);
        let [a, b] = program.results() else {
            panic!("two outputs: {program:?}");
        };
        let (got_a, got_b) = (read(*a, 7, &lookup, &regs), read(*b, 7, &lookup, &regs));
        for i in 0..7 {
            let x: Vec<f64> = (0..4).map(|k| data[k][i]).collect();
            let chosen = if x[0] > x[1] {
                x[1] * x[2].sqrt() / x[3]
            } else {
                x[3] + x[0]
            };
            let want = x[0] - chosen;
            assert_eq!(got_a[i], want, "first output, element {i}");
            assert_eq!(got_b[i], -want + want * x[2], "second output, element {i}");
        }
        // At most: `where`'s three operands and its result; then the first output and two
        // temporaries.
        assert!(program.registers() <= 4, "{program:?}");
    }
}
