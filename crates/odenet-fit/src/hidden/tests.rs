//! Experiments on a spec named by `ODENET_SPEC` (ignored by default): timings and the stages of
//! the global search.

use std::path::Path;
use std::time::Instant;

use odenet_spec::Spec;

use crate::evaluate::Evaluator;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::solve_options;
use crate::test_support::whole_evaluator;

/// Runs `f` on the problem of the spec named by `ODENET_SPEC` (nothing when it is unset).
fn with_env_problem(f: impl FnOnce(&Problem)) {
    let Ok(path) = std::env::var("ODENET_SPEC") else {
        return;
    };
    let spec = Spec::load(Path::new(&path)).expect("spec");
    let tables = odenet_spec::load_tables(&spec).expect("tables");
    let model = CompiledModel::from_spec(&spec).expect("model");
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    f(&prob);
}

#[test]
#[ignore = "an experiment on ODENET_SPEC"]
fn experiment() {
    with_env_problem(experiment_on);
}

/// Timings of the loss (with and without the gradient) and of the Gauss–Newton matrix.
fn experiment_on(prob: &Problem) {
    let q = prob.scales.normalised(&prob.init, &prob.free);
    eprintln!(
        "pscale {:?}\nsx {:?} st {}",
        prob.scales.pscale, prob.scales.sx, prob.scales.st
    );
    let ev = whole_evaluator(prob);
    for grad in [false, true] {
        let t = Instant::now();
        let e = ev.eval(&q, grad);
        eprintln!(
            "eval grad={grad}: {:.3} ms loss {} steps {} bdf {} failures {}",
            t.elapsed().as_secs_f64() * 1e3,
            e.loss,
            e.steps,
            e.bdf_pieces,
            e.failures
        );
    }
    let t = Instant::now();
    let gn = ev.gauss_newton(&q);
    eprintln!(
        "gauss-newton {:.3} ms loss {}",
        t.elapsed().as_secs_f64() * 1e3,
        gn.loss
    );
}

/// Stages of one start on ODENET_SPEC: the informed start, multiple shooting, single shooting.
#[test]
#[ignore = "an experiment on ODENET_SPEC"]
fn experiment_stages() {
    with_env_problem(stages_on);
}

/// The stages of one start on `prob` (see [`experiment_stages`]).
fn stages_on(prob: &Problem) {
    use super::informed::informed_start;
    use super::shooting::{Shooting, minimize};
    use crate::optimize::{Terms, levenberg_marquardt};
    let active = prob.free.clone();
    let mut base = prob.init.clone();
    for &k in &active {
        base[k] = 0.0;
    }
    let q0 = prob.scales.normalised(&prob.init, &active);
    let terms = Terms::new(prob, &active, 0.0, 1.0);
    let ev = Evaluator::new(prob, active.clone(), base.clone(), prob.all_pieces());
    let user = |q: &[f64]| prob.scales.user(&base, &active, q);
    // Levenberg–Marquardt with geodesic acceleration on `sh` from (q, s) at continuity weight
    // w, within the bounds, never abandoned nor cancelled.
    let geodesic = |sh: &Shooting, q: Vec<f64>, s: Vec<f64>, w: f64, iters: usize, tol: f64| {
        minimize(
            sh,
            q,
            s,
            w,
            (&terms.lo, &terms.hi),
            iters,
            tol,
            f64::INFINITY,
            &|| false,
        )
    };
    let t = Instant::now();
    let inf = informed_start(prob, &base, &active, &q0, (&terms.lo, &terms.hi));
    eprintln!("informed: {:.3} s", t.elapsed().as_secs_f64());
    let Some(inf) = inf else {
        eprintln!("no informed start");
        return;
    };
    eprintln!(
        "informed residual {} params {:?} loss {}",
        inf.residual,
        user(&inf.q),
        ev.eval(&inf.q, false).loss
    );
    let lmt = Terms::new(prob, &active, 0.0, 1.0);
    for (label, q) in [("spec", q0.clone()), ("informed", inf.q.clone())] {
        let t = Instant::now();
        let r = levenberg_marquardt(&ev, &lmt, q, 200);
        eprintln!(
            "{label} -> LM: loss {} iters {} {:.2} s {}\n  {:?}",
            r.loss,
            r.iters,
            t.elapsed().as_secs_f64(),
            r.reason,
            user(&r.q)
        );
    }
    let single = Shooting::new(prob, active.clone(), base.clone(), 1);
    for (label, q) in [("spec", q0.clone()), ("informed", inf.q.clone())] {
        let t = Instant::now();
        let s1 = single.initial_nodes(&q);
        let r = geodesic(&single, q, s1, 0.0, 200, 1e-7);
        eprintln!(
            "{label} -> geodesic LM: loss {} iters {} {:.2} s\n  {:?}",
            r.data,
            r.iters,
            t.elapsed().as_secs_f64(),
            user(&r.q)
        );
    }
    let sh = Shooting::new(prob, active.clone(), base.clone(), usize::MAX);
    for (label, mut q, mut s) in [
        ("spec", q0.clone(), sh.initial_nodes(&q0)),
        ("informed", inf.q.clone(), sh.nodes_from_states(&inf.states)),
    ] {
        let t = Instant::now();
        for w in [1.0, 10.0, 100.0, 1e3, 1e4] {
            let r = geodesic(&sh, q, s, w, 30, 1e-4);
            eprintln!(
                "  {label} ms w={w}: data {} gap {} iters {}",
                r.data, r.gap, r.iters
            );
            q = r.q;
            s = r.s;
        }
        let single = Shooting::new(prob, active.clone(), base.clone(), 1);
        let s1 = single.nodes_from_states(&sh.node_states(&s));
        let t1 = Instant::now();
        let r1 = geodesic(&single, q.clone(), s1, 0.0, 200, 1e-7);
        eprintln!(
            "{label} -> MS -> geodesic LM: loss {} iters {} {:.2} s",
            r1.data,
            r1.iters,
            t1.elapsed().as_secs_f64()
        );
        let r = levenberg_marquardt(&ev, &lmt, q, 200);
        eprintln!(
            "{label} -> MS -> LM: loss {} iters {} {:.2} s {}\n  {:?}",
            r.loss,
            r.iters,
            t.elapsed().as_secs_f64(),
            r.reason,
            user(&r.q)
        );
    }
}
