//! Test helpers shared by the tape and library tests: random valid DAGs, an independent
//! recursive evaluator, and fourth-order central finite differences.

#![allow(dead_code)]

use odenet_symbolic::{Dag, Node};
use proptest::prelude::*;

pub const NSTATES: usize = 3;
pub const NPARAMS: usize = 4;
pub const NCONSTS: usize = 1;

/// One step of building a random DAG: a leaf, or an operation on earlier nodes (picked modulo
/// the current length) with a real parameter `r` that chooses variants and literal values.
#[derive(Clone, Debug)]
pub enum Recipe {
    Leaf {
        kind: u8,
        index: u32,
        value: f64,
    },
    Op {
        kind: u8,
        a: usize,
        b: usize,
        r: f64,
    },
}

fn leaf() -> impl Strategy<Value = Recipe> {
    (0u8..4, 0u32..8, -2.0f64..2.0).prop_map(|(kind, index, value)| Recipe::Leaf {
        kind,
        index,
        value,
    })
}

fn op() -> impl Strategy<Value = Recipe> {
    (0u8..14, any::<usize>(), any::<usize>(), -1.0f64..1.0).prop_map(|(kind, a, b, r)| Recipe::Op {
        kind,
        a,
        b,
        r,
    })
}

/// Recipes for a DAG: some leaves, then operations, then the root picks.
pub fn recipes() -> impl Strategy<Value = (Vec<Recipe>, Vec<Recipe>, Vec<usize>)> {
    (
        prop::collection::vec(leaf(), 1..7),
        prop::collection::vec(op(), 0..22),
        prop::collection::vec(any::<usize>(), 1..5),
    )
}

/// Builds a valid DAG over `NSTATES` states, `NPARAMS` parameters and `NCONSTS` constants whose
/// operations stay inside their domains: logarithms, square roots and real powers act on
/// `1 + a²`, divisions divide by `2 + b²`, and exponentials act on `sin(a)`.
pub fn build(leaves: &[Recipe], ops: &[Recipe], roots: &[usize], noutputs: Option<usize>) -> Dag {
    let mut nodes: Vec<Node> = Vec::new();
    let push = |nodes: &mut Vec<Node>, n: Node| -> u32 {
        nodes.push(n);
        (nodes.len() - 1) as u32
    };
    for l in leaves {
        if let Recipe::Leaf { kind, index, value } = *l {
            let n = match kind {
                0 => Node::State(index % NSTATES as u32),
                1 => Node::Param(index % NPARAMS as u32),
                2 => Node::Const(index % NCONSTS as u32),
                _ => Node::Num(value),
            };
            push(&mut nodes, n);
        }
    }
    // Every state and parameter appears at least once, so every derivative column is exercised
    // when the ops use them.
    for i in 0..NSTATES as u32 {
        push(&mut nodes, Node::State(i));
    }
    for j in 0..NPARAMS as u32 {
        push(&mut nodes, Node::Param(j));
    }
    let positive = |nodes: &mut Vec<Node>, a: u32, shift: f64| -> u32 {
        let one = push(nodes, Node::Num(shift));
        let sq = push(nodes, Node::PowI(a, 2));
        push(nodes, Node::Add(one, sq))
    };
    for o in ops {
        if let Recipe::Op { kind, a, b, r } = *o {
            let len = nodes.len();
            let (a, b) = ((a % len) as u32, (b % len) as u32);
            match kind {
                0 => push(&mut nodes, Node::Add(a, b)),
                1 => push(&mut nodes, Node::Sub(a, b)),
                2 => push(&mut nodes, Node::Mul(a, b)),
                3 => {
                    let den = positive(&mut nodes, b, 2.0);
                    push(&mut nodes, Node::Div(a, den))
                }
                4 => push(&mut nodes, Node::Neg(a)),
                5 => {
                    let base = positive(&mut nodes, a, 1.0);
                    let e = if r > 0.0 {
                        push(&mut nodes, Node::Num(2.5 * r))
                    } else {
                        push(&mut nodes, Node::Sin(b))
                    };
                    push(&mut nodes, Node::Pow(base, e))
                }
                6 => {
                    let k = ((r + 1.0) * 2.5).floor() as i32; // 0..=4
                    push(&mut nodes, Node::PowI(a, k))
                }
                7 => {
                    let base = positive(&mut nodes, a, 1.0);
                    let k = -1 - ((r + 1.0) * 1.5).floor() as i32; // -1..=-3
                    push(&mut nodes, Node::PowI(base, k))
                }
                8 => {
                    let s = push(&mut nodes, Node::Sin(a));
                    push(&mut nodes, Node::Exp(s))
                }
                9 => {
                    let arg = positive(&mut nodes, a, 1.0);
                    push(&mut nodes, Node::Log(arg))
                }
                10 => push(&mut nodes, Node::Sin(a)),
                11 => push(&mut nodes, Node::Cos(a)),
                12 => {
                    let arg = positive(&mut nodes, a, 1.0);
                    push(&mut nodes, Node::Sqrt(arg))
                }
                _ => push(&mut nodes, Node::PowI(a, 3)),
            };
        }
    }
    let len = nodes.len();
    let roots = match noutputs {
        // A right-hand side needs exactly one output per state: cycle through the picks.
        Some(n) => (0..n)
            .map(|i| (roots[i % roots.len()].wrapping_add(i) % len) as u32)
            .collect(),
        None => roots.iter().map(|&r| (r % len) as u32).collect(),
    };
    Dag { nodes, roots }
}

/// Evaluates node `k` by direct recursion over the node vector (memoised so that shared
/// subtrees do not cost exponential time). Independent of the tape's slot machinery.
pub fn reval(
    nodes: &[Node],
    k: usize,
    x: &[f64],
    p: &[f64],
    c: &[f64],
    memo: &mut [Option<f64>],
) -> f64 {
    if let Some(v) = memo[k] {
        return v;
    }
    let r = |i: u32, memo: &mut [Option<f64>]| reval(nodes, i as usize, x, p, c, memo);
    let v = match nodes[k] {
        Node::Num(v) => v,
        Node::State(i) => x[i as usize],
        Node::Param(i) => p[i as usize],
        Node::Const(i) => c[i as usize],
        Node::Add(a, b) => r(a, memo) + r(b, memo),
        Node::Sub(a, b) => r(a, memo) - r(b, memo),
        Node::Mul(a, b) => r(a, memo) * r(b, memo),
        Node::Div(a, b) => r(a, memo) / r(b, memo),
        Node::Neg(a) => -r(a, memo),
        Node::Pow(a, b) => r(a, memo).powf(r(b, memo)),
        Node::PowI(a, n) => r(a, memo).powi(n),
        Node::Exp(a) => r(a, memo).exp(),
        Node::Log(a) => r(a, memo).ln(),
        Node::Sin(a) => r(a, memo).sin(),
        Node::Cos(a) => r(a, memo).cos(),
        Node::Sqrt(a) => r(a, memo).sqrt(),
    };
    memo[k] = Some(v);
    v
}

/// All outputs of `dag` by the recursive reference evaluator.
pub fn reference(dag: &Dag, x: &[f64], p: &[f64], c: &[f64]) -> Vec<f64> {
    let mut memo = vec![None; dag.nodes.len()];
    dag.roots
        .iter()
        .map(|&r| reval(&dag.nodes, r as usize, x, p, c, &mut memo))
        .collect()
}

/// Fourth-order central difference of the vector function `f` with respect to `v[j]` with step
/// `h`: returns (derivative per output, the largest |f| seen on the stencil).
pub fn fd_column(
    f: &mut dyn FnMut(&[f64]) -> Vec<f64>,
    v: &[f64],
    j: usize,
    h: f64,
) -> (Vec<f64>, f64) {
    let mut w = v.to_vec();
    let mut at = |d: f64| {
        w[j] = v[j] + d * h;
        f(&w)
    };
    let (m2, m1, p1, p2) = (at(-2.0), at(-1.0), at(1.0), at(2.0));
    let mut scale: f64 = 0.0;
    let d = (0..m1.len())
        .map(|i| {
            scale = scale
                .max(m2[i].abs())
                .max(m1[i].abs())
                .max(p1[i].abs())
                .max(p2[i].abs());
            (m2[i] - 8.0 * m1[i] + 8.0 * p1[i] - p2[i]) / (12.0 * h)
        })
        .collect();
    (d, scale)
}

/// Asserts `analytic` (row-major nout × nin) against finite differences of `f` at `v`.
///
/// The difference quotient is taken with steps h, h/4, h/16, …: two successive estimates d(h)
/// and d(h/4) differ by about 255 times the truncation error of d(h/4) (it scales as h⁴), so
/// |d(h) − d(h/4)| bounds that error. The step shrinks until the bound is small against the
/// derivative (a function that oscillates faster than the first step, such as sin of a steep
/// argument, needs several refinements before the quotient means anything), at most six times;
/// a point where the quotient never settles is rejected (proptest draws another) rather than
/// judged.
/// The tolerance is a relative 1e-6, plus a floor for the round-off of differencing large
/// values, plus the last error bound.
pub fn check_jacobian(
    what: &str,
    f: &mut dyn FnMut(&[f64]) -> Vec<f64>,
    v: &[f64],
    analytic: &[f64],
    nout: usize,
) -> Result<(), TestCaseError> {
    let nin = v.len();
    prop_assert_eq!(analytic.len(), nout * nin);
    for j in 0..nin {
        let h0 = 1e-3 * v[j].abs().max(1.0);
        for i in 0..nout {
            let a = analytic[i * nin + j];
            let (mut coarse, _) = fd_column(f, v, j, h0);
            let mut h = h0;
            let (mut fine, mut scale) = fd_column(f, v, j, h / 4.0);
            let mut converged = false;
            for _ in 0..6 {
                let err = (coarse[i] - fine[i]).abs();
                if err <= 1e-4 * fine[i].abs() + 1e-9 * scale.max(1.0) {
                    converged = true;
                    break;
                }
                h /= 4.0;
                coarse = fine;
                (fine, scale) = fd_column(f, v, j, h / 4.0);
            }
            if !converged {
                // A function that varies faster than any step round-off allows (a derivative
                // of 1e11 between values below 1e6): finite differences cannot judge it here.
                return Err(TestCaseError::reject(format!(
                    "{what}: finite differences do not converge for d out[{i}] / d in[{j}]"
                )));
            }
            let fd_err = (coarse[i] - fine[i]).abs();
            let tol = 1e-6 * a.abs().max(fine[i].abs()) + 1e-9 * scale.max(1.0) + fd_err;
            prop_assert!(
                (a - fine[i]).abs() <= tol,
                "{what}: d out[{i}] / d in[{j}] = {a}, finite differences give {} (step {:e}: {}), |diff| = {:e} > {tol:e}",
                fine[i],
                h,
                coarse[i],
                (a - fine[i]).abs()
            );
        }
    }
    Ok(())
}

/// True when every value is finite and moderate, so that finite differences are meaningful.
pub fn tame(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite() && v.abs() < 1e6)
}

pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300) || (a.is_nan() && b.is_nan())
}
