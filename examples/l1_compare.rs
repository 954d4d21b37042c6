//! The L1 step of the L1 rounds, side by side: each spec fitted through the L1 path (models
//! affine in their parameters too, from the regression guess) with the smoothed L1 term,
//! argmin's OWL-QN and the proximal step, in one run. Reports the support found against the
//! truth, the largest relative coefficient error, the work of the L1 rounds (evaluations,
//! iterations, seconds) and the whole fit's time and loss. Run by `benches/l1.sh`.
//!
//! `cargo run --release --example l1_compare -- [--methods smoothed,owlqn,proximal]
//! SPEC[:TRUTH] ...` where TRUTH is a spec whose parameters are all fixed (`specs/truth/`):
//! for a template model the true parameters by name (those it does not name are zero), for a
//! library the true terms (its right-hand side projected on the library by least squares at the
//! data, so any way of writing the truth works).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use odenet_fit::{CompiledModel, FitResult, L1Counter, L1Options, L1Step, ModelKind};
use odenet_spec::{Spec, Table};
use odenet_tape::OdeRhs;

/// A coefficient this small relative to its equation's largest is taken as zero in the truth.
const TRUTH_ZERO: f64 = 1e-9;

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}

fn load(path: &str) -> (Spec, Vec<Table>) {
    let spec = Spec::load(Path::new(path)).unwrap_or_else(|d| {
        fail(
            &d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    });
    let tables = odenet_spec::load_tables(&spec).unwrap_or_else(|d| {
        fail(
            &d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    });
    (spec, tables)
}

/// The true value of every parameter of the fit spec's model, by name (library: `d<x>/dt[term]`).
fn truth_params(model: &CompiledModel, tables: &[Table], truth: &Spec) -> Vec<f64> {
    let tm = CompiledModel::from_spec(truth).unwrap_or_else(|e| fail(&e.to_string()));
    let tp: Vec<f64> = tm.params.iter().map(|p| p.init).collect();
    let ModelKind::Library { exponents, .. } = &model.kind else {
        return model
            .params
            .iter()
            .map(|p| {
                tm.params
                    .iter()
                    .position(|q| q.name == p.name)
                    .map_or(0.0, |k| tp[k])
            })
            .collect();
    };
    // Library: least squares of the truth's right-hand side on the monomials, at points spread
    // over the box the data span (data points themselves can make the monomials nearly
    // dependent, e.g. under a conservation law; the truth is a polynomial, so any points do).
    let n = model.nstates();
    if tm.states != model.states || model.hidden.iter().any(|&h| h) {
        fail("a library truth must have the fit spec's states, all observed");
    }
    let mut lo = vec![f64::INFINITY; n];
    let mut hi = vec![f64::NEG_INFINITY; n];
    for t in tables {
        for i in 0..n {
            for &v in t.values[i].iter().filter(|v| v.is_finite()) {
                lo[i] = lo[i].min(v);
                hi[i] = hi[i].max(v);
            }
        }
    }
    let nf = exponents.len();
    let rhs = tm.rhs(&[]);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut f = vec![0.0; n];
    let mut ata = vec![0.0; nf * nf];
    let mut atb = vec![0.0; nf * n];
    let mut rng = odenet_fit::rng::Rng::new(1);
    for _ in 0..20 * nf {
        let x: Vec<f64> = (0..n)
            .map(|i| lo[i] + (hi[i] - lo[i]) * rng.uniform())
            .collect();
        {
            rhs.rhs(&x, &tp, &mut scratch, &mut f);
            let phi: Vec<f64> = exponents
                .iter()
                .map(|e| x.iter().zip(e).map(|(v, &p)| v.powi(p as i32)).product())
                .collect();
            for a in 0..nf {
                for b in 0..nf {
                    ata[a * nf + b] += phi[a] * phi[b];
                }
                for i in 0..n {
                    atb[a * n + i] += phi[a] * f[i];
                }
            }
        }
    }
    let coef = solve(ata, atb, nf, n);
    let mut p = vec![0.0; n * nf];
    for i in 0..n {
        let big = (0..nf).map(|a| coef[a * n + i].abs()).fold(0.0, f64::max);
        for a in 0..nf {
            let v = coef[a * n + i];
            // Library parameters are ordered state by state, feature by feature.
            p[i * nf + a] = if v.abs() > TRUTH_ZERO * big { v } else { 0.0 };
        }
    }
    p
}

/// Solves A X = B (A m × m, B m × k, row-major) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, m: usize, k: usize) -> Vec<f64> {
    for c in 0..m {
        let piv = (c..m)
            .max_by(|&i, &j| a[i * m + c].abs().total_cmp(&a[j * m + c].abs()))
            .unwrap_or(c);
        for j in 0..m {
            a.swap(c * m + j, piv * m + j);
        }
        for j in 0..k {
            b.swap(c * k + j, piv * k + j);
        }
        let d = a[c * m + c];
        if d.abs() < 1e-300 {
            fail("the library's columns are singular on the data");
        }
        for i in (c + 1)..m {
            let r = a[i * m + c] / d;
            for j in c..m {
                a[i * m + j] -= r * a[c * m + j];
            }
            for j in 0..k {
                b[i * k + j] -= r * b[c * k + j];
            }
        }
    }
    for c in (0..m).rev() {
        for j in 0..k {
            let s: f64 = ((c + 1)..m).map(|i| a[c * m + i] * b[i * k + j]).sum();
            b[c * k + j] = (b[c * k + j] - s) / a[c * m + c];
        }
    }
    b
}

/// Support and coefficients of a fit against the truth: (missing, extra, max relative error of
/// the true nonzero parameters; a missing one counts 1).
fn score(res: &FitResult, model: &CompiledModel, truth: &[f64]) -> (usize, usize, f64) {
    let (mut missing, mut extra, mut err) = (0, 0, 0.0_f64);
    for (k, p) in model.params.iter().enumerate() {
        if p.fixed {
            continue;
        }
        let (v, t) = (res.params[k], truth[k]);
        match (v != 0.0, t != 0.0) {
            (false, true) => {
                missing += 1;
                err = err.max(1.0);
            }
            (true, false) => extra += 1,
            (true, true) => err = err.max(((v - t) / t).abs()),
            (false, false) => {}
        }
    }
    (missing, extra, err)
}

fn main() {
    let mut methods = vec![L1Step::Smoothed, L1Step::OwlQn, L1Step::Proximal];
    let mut cases = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--methods" {
            let list = args
                .next()
                .unwrap_or_else(|| fail("--methods needs a list"));
            methods = list
                .split(',')
                .map(|m| match m {
                    "smoothed" => L1Step::Smoothed,
                    "owlqn" => L1Step::OwlQn,
                    "proximal" => L1Step::Proximal,
                    _ => fail(&format!("unknown method {m} (smoothed, owlqn, proximal)")),
                })
                .collect();
        } else {
            cases.push(a);
        }
    }
    if cases.is_empty() {
        fail("usage: l1_compare [--methods smoothed,owlqn,proximal] SPEC[:TRUTH] ...");
    }
    println!(
        "| spec | L1 step | support (missing/extra) | max coef. error | L1 evaluations | L1 iterations | L1 seconds | fit seconds | loss |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut totals = vec![(0u64, 0.0f64, 0.0f64, 0usize); methods.len()];
    for case in &cases {
        let (spec_path, truth_path) = match case.split_once(':') {
            Some((s, t)) => (s, Some(t)),
            None => (case.as_str(), None),
        };
        let (spec, tables) = load(spec_path);
        let model = CompiledModel::from_spec(&spec).unwrap_or_else(|e| fail(&e.to_string()));
        let truth = truth_path.map(|t| truth_params(&model, &tables, &load(t).0));
        for (mi, &step) in methods.iter().enumerate() {
            let counter = L1Counter::default();
            let opts = L1Options {
                step,
                force_path: true,
                counter: Some(&counter),
            };
            let t0 = Instant::now();
            let res =
                odenet_fit::fit_with_l1(&spec, &tables, &|_| {}, &AtomicBool::new(false), opts)
                    .unwrap_or_else(|e| fail(&e.to_string()));
            let secs = t0.elapsed().as_secs_f64();
            let evals = counter.evaluations.load(Ordering::Relaxed);
            let iters = counter.iterations.load(Ordering::Relaxed);
            let l1_secs = counter.nanos.load(Ordering::Relaxed) as f64 * 1e-9;
            let (support, coef) = match &truth {
                Some(t) => {
                    let (missing, extra, err) = score(&res, &model, t);
                    if missing + extra == 0 {
                        totals[mi].3 += 1;
                    }
                    let s = if missing + extra == 0 {
                        format!("exact ({} terms)", res.active_terms)
                    } else {
                        format!("{missing}/{extra} ({} terms)", res.active_terms)
                    };
                    (s, format!("{:.2}%", 100.0 * err))
                }
                None => (format!("{} terms", res.active_terms), "–".to_string()),
            };
            totals[mi].0 += evals;
            totals[mi].1 += l1_secs;
            totals[mi].2 += secs;
            println!(
                "| {} | {step:?} | {support} | {coef} | {evals} | {iters} | {l1_secs:.2} | {secs:.2} | {:.6e} |",
                spec.name, res.loss
            );
        }
    }
    println!();
    println!("| L1 step | exact supports | L1 evaluations | L1 seconds | fit seconds |");
    println!("|---|---|---|---|---|");
    for (m, t) in methods.iter().zip(&totals) {
        println!("| {m:?} | {} | {} | {:.1} | {:.1} |", t.3, t.0, t.1, t.2);
    }
}
