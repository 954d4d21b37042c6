//! The exact gradient and Gauss–Newton matrix against finite differences and each other,
//! thread-count independence, and failed pieces.

use std::path::Path;

use odenet_spec::{Spec, Table};

use super::*;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::solve_options;
use crate::test_support::whole_evaluator;

/// A quadratic library on two states and data that is not a solution of it.
fn lv_problem_inputs() -> (Spec, Vec<Table>) {
    let spec = Spec::from_str(
        "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 2\n[fit]\nrtol = 1e-10\natol = 1e-12\n",
        Path::new("t.toml"),
    )
    .expect("spec");
    let times: Vec<f64> = (0..60).map(|k| k as f64 * 0.05).collect();
    // Noisy-looking data (not a solution): the loss is far from zero and every term matters.
    let values = vec![
        times
            .iter()
            .map(|t| 20.0 + 10.0 * (t * 1.3).sin() + 0.3 * (t * 17.0).cos())
            .collect(),
        times
            .iter()
            .map(|t| 15.0 + 6.0 * (t * 0.9).cos() + 0.2 * (t * 23.0).sin())
            .collect(),
    ];
    (
        spec,
        vec![Table {
            file: "d.csv".into(),
            times,
            values,
        }],
    )
}

/// Runs `f` with an evaluator over every piece of the Lotka–Volterra test problem and the
/// number of its active parameters.
fn with_lv_evaluator(f: impl FnOnce(&Evaluator, usize)) {
    let (spec, tables) = lv_problem_inputs();
    let model = CompiledModel::from_spec(&spec).expect("model");
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    f(&whole_evaluator(&prob), prob.free.len());
}

fn start(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.3 * ((k as f64) * 0.7).sin()).collect()
}

/// The exact gradient of the profiled loss against central finite differences of the loss.
#[test]
fn gradient_matches_finite_differences() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        assert_gradient_matches(ev, &q, |_| 1e-5, (2e-4, 1e-3));
    });
}

/// The exact gradient of the profiled loss at `q` against central finite differences with
/// step `step(q_k)`: within `rel` of the larger of the two, floored at `floor` times the loss.
fn assert_gradient_matches(
    ev: &Evaluator,
    q: &[f64],
    step: impl Fn(f64) -> f64,
    (rel, floor): (f64, f64),
) {
    let e = ev.eval(q, true);
    assert_eq!(e.failures, 0);
    for k in 0..q.len() {
        let h = step(q[k]);
        let mut qp = q.to_vec();
        let mut qm = q.to_vec();
        qp[k] += h;
        qm[k] -= h;
        let fd = (ev.eval(&qp, false).loss - ev.eval(&qm, false).loss) / (2.0 * h);
        let scale = fd.abs().max(e.grad[k].abs()).max(floor * e.loss);
        assert!(
            (fd - e.grad[k]).abs() <= rel * scale,
            "coordinate {k}: exact {} finite differences {fd}",
            e.grad[k]
        );
    }
}

/// The Gauss–Newton pass returns the same loss and gradient as the plain evaluation.
#[test]
fn gauss_newton_pass_agrees_with_eval() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        let e = ev.eval(&q, true);
        let gn = ev.gauss_newton(&q);
        assert!((gn.loss - e.loss).abs() <= 1e-12 * e.loss);
        for (a, b) in gn.grad.iter().zip(&e.grad) {
            assert!((a - b).abs() <= 1e-10 * (a.abs() + b.abs() + 1e-12));
        }
        // Symmetric and positive on the diagonal.
        let na = q.len();
        for a in 0..na {
            assert!(gn.h[a * na + a] > 0.0);
            for b in 0..na {
                assert!(
                    (gn.h[a * na + b] - gn.h[b * na + a]).abs()
                        <= 1e-9 * gn.h[a * na + a].abs().max(1e-12)
                );
            }
        }
    });
}

/// The per-state sums of an evaluation are the residuals' (profiled starts included), with
/// and without the gradient, and they add up to the loss.
#[test]
fn per_state_sums_match_the_residuals() {
    let (spec, tables) = lv_problem_inputs();
    let model = CompiledModel::from_spec(&spec).expect("model");
    let opts = solve_options(&spec);
    let layout = crate::problem::Layout::Tiles { len: 10 };
    let prob = Problem::with_layout(&model, &spec, &tables, opts, Some(layout)).expect("problem");
    assert!(
        prob.free_start.iter().any(|&f| f),
        "profiled starts are exercised"
    );
    let ev = Evaluator::new(
        &prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
    );
    let q = start(prob.free.len());
    let n = prob.nstates();
    let mut want = vec![0.0; n];
    for r in ev.residuals(&q) {
        for (j, v) in r.expect("every piece integrates").iter().enumerate() {
            if v.is_finite() {
                want[j % n] += v * v;
            }
        }
    }
    for grad in [false, true] {
        let e = ev.eval(&q, grad);
        assert_eq!(e.rss.len(), n);
        for (a, b) in e.rss.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-9 * b, "{:?} against {want:?}", e.rss);
        }
        let total: f64 = e.rss.iter().sum();
        assert!((total - e.loss * ev.nlabels as f64).abs() <= 1e-9 * total);
    }
}

/// Results do not depend on the number of threads.
#[test]
fn identical_for_any_thread_count() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let e = ev.eval(&q, true);
                let gn = ev.gauss_newton(&q);
                (
                    e.loss.to_bits(),
                    e.grad.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    gn.h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    });
}

/// A parameter that makes pieces blow up yields a finite, counted penalty, not a crash.
#[test]
fn failed_pieces_are_penalised_and_counted() {
    with_lv_evaluator(|ev, na| {
        // Large positive quadratic self-interaction: finite-time blow-up within a piece.
        let mut q = vec![0.0; na];
        q[3] = 1e4;
        let e = ev.eval(&q, true);
        assert!(e.failures > 0);
        assert!(e.loss.is_finite() && e.loss > 1.0);
        assert!(e.grad.iter().all(|g| g.is_finite()));
    });
}

/// A group of `ranks` threads standing in for processes: `all_gather` deposits each rank's
/// values, waits for every rank, and reads them all in rank order (as MPI_Allgatherv does).
struct ThreadGroup {
    deposits: Mutex<Vec<Vec<f64>>>,
    barrier: std::sync::Barrier,
}

struct ThreadRank {
    rank: usize,
    ranks: usize,
    group: Arc<ThreadGroup>,
}

impl Partition for ThreadRank {
    fn ranks(&self) -> usize {
        self.ranks
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn all_gather(&self, local: &[f64], counts: &[usize], out: &mut [f64]) {
        assert_eq!(local.len(), counts[self.rank]);
        self.group.deposits.lock().expect("deposits")[self.rank] = local.to_vec();
        self.group.barrier.wait();
        {
            let d = self.group.deposits.lock().expect("deposits");
            let mut at = 0;
            for (r, &c) in counts.iter().enumerate() {
                assert_eq!(d[r].len(), c, "rank {r} sent another count");
                out[at..at + c].copy_from_slice(&d[r]);
                at += c;
            }
        }
        // Nobody deposits the next call's values before every rank has read these.
        self.group.barrier.wait();
    }
}

/// After shared evaluations: each piece's loss (gathered per piece), the residuals and a
/// profiled start (passes over every piece on every process, from the shared profiled starts).
fn passes(ev: &Evaluator, q: &[f64]) -> Vec<u64> {
    let (e, per) = ev.eval_per_piece(q);
    let mut bits = vec![e.loss.to_bits()];
    bits.extend(per.iter().map(|v| v.to_bits()));
    for r in ev.residuals(q).into_iter().flatten() {
        bits.extend(r.iter().map(|v| v.to_bits()));
    }
    let _ = ev.eval(q, false);
    bits.extend(
        ev.profiled_start(ev.pieces.len() - 1, q)
            .iter()
            .map(|v| v.to_bits()),
    );
    bits
}

/// The bits of what an evaluator over every piece of `prob`, shared through `partition`,
/// computes: the loss, steps, gradient and Gauss–Newton matrix at `q1`, `q2` and `q1` again, then
/// the [`passes`] over every piece at `q2`.
fn fingerprint(prob: &Problem, partition: Arc<dyn Partition>, q1: &[f64], q2: &[f64]) -> Vec<u64> {
    let ev = Evaluator::with_partition(
        prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
        partition,
    );
    let mut bits = Vec::new();
    for q in [q1, q2, q1] {
        let e = ev.eval(q, true);
        let gn = ev.gauss_newton(q);
        bits.push(e.loss.to_bits());
        bits.push(e.steps as u64);
        bits.extend(e.grad.iter().map(|v| v.to_bits()));
        bits.push(gn.loss.to_bits());
        bits.extend(gn.h.iter().map(|v| v.to_bits()));
    }
    bits.extend(passes(&ev, q2));
    bits
}

/// Loss, gradient and Gauss–Newton matrix shared among 1, 2 and 3 cooperating "processes"
/// (threads with their own evaluator, gathering through a barrier) are bit-identical to one
/// process's, on short pieces and on whole experiments (whose profiles start where the last
/// evaluation's ended, a state the processes must share).
#[test]
fn identical_for_any_number_of_processes() {
    for segment in ["", "segment = \"whole\"\n"] {
        let (spec, mut tables) = lv_problem_inputs();
        let spec = Spec::from_str(
            &format!(
                "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 2\n[fit]\nrtol = 1e-10\natol = 1e-12\n{segment}"
            ),
            Path::new("t.toml"),
        )
        .unwrap_or(spec);
        // Several experiments, so that whole-experiment pieces fill several chunks.
        let base = tables[0].clone();
        for k in 1..7 {
            let mut t = base.clone();
            for col in &mut t.values {
                for v in col.iter_mut() {
                    *v *= 1.0 + 0.03 * k as f64;
                }
            }
            tables.push(t);
        }
        let model = CompiledModel::from_spec(&spec).expect("model");
        let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
        let na = prob.free.len();
        let q1 = start(na);
        let q2: Vec<f64> = q1.iter().map(|v| v * 0.9 + 0.01).collect();
        let run = |ranks: usize| {
            let group = Arc::new(ThreadGroup {
                deposits: Mutex::new(vec![Vec::new(); ranks]),
                barrier: std::sync::Barrier::new(ranks),
            });
            let results: Vec<Vec<u64>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..ranks)
                    .map(|rank| {
                        let group = group.clone();
                        let prob = &prob;
                        let (q1, q2) = (&q1, &q2);
                        s.spawn(move || {
                            fingerprint(prob, Arc::new(ThreadRank { rank, ranks, group }), q1, q2)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("rank"))
                    .collect()
            });
            for r in &results[1..] {
                assert_eq!(r, &results[0], "ranks of one group disagree");
            }
            results.into_iter().next().expect("rank 0")
        };
        let single = fingerprint(&prob, Arc::new(crate::partition::Local), &q1, &q2);
        assert!(prob.pieces.len() >= 3, "{} pieces", prob.pieces.len());
        for ranks in 1..=3 {
            assert_eq!(run(ranks), single, "{ranks} processes ({segment:?})");
        }
    }
}

/// A hidden monomer pool m whose initial value is `tot - M`, M observed with noise: the
/// expression holds for the start the fit uses (M's start profiled), and the gradient of the
/// profiled loss with that tie is exact (against finite differences).
#[test]
fn an_initial_value_expression_follows_the_profiled_start() {
    // The spec names a data file; the values below are what the fit reads.
    let dir = std::env::temp_dir().join(format!("odenet-coupling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    std::fs::write(dir.join("d.csv"), "t,M\n0,0\n").expect("data file");
    let spec = Spec::from_str(
        "states = [\"M\", \"m\"]\nhidden = [\"m\"]\n[params]\nk = 0.5\nc = 0.1\n\
         [equations]\nM = \"k*m + c*M*m\"\nm = \"-(k*m + c*M*m)\"\n\
         [fit]\nsegment = \"whole\"\nrtol = 1e-10\natol = 1e-12\n\
         [[data]]\nfile = \"d.csv\"\nconstants = { tot = 5.0 }\ninitial = { m = \"tot - M\" }\n",
        &dir.join("t.toml"),
    )
    .expect("spec");
    let times: Vec<f64> = (0..40).map(|k| k as f64 * 0.1).collect();
    // Data near a solution, with a first reading 0.3 above the true start M(0) = 0.
    let values = vec![
        times
            .iter()
            .map(|t| 5.0 * (1.0 - (-0.7 * t).exp()) + 0.05 * (t * 11.0).sin())
            .enumerate()
            .map(|(i, v)| if i == 0 { 0.3 } else { v })
            .collect(),
        vec![f64::NAN; times.len()],
    ];
    let tables = vec![Table {
        file: "d.csv".into(),
        times,
        values,
    }];
    let model = CompiledModel::from_spec(&spec).expect("model");
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    let (sx_m, sx_mm) = (prob.scales.sx[0], prob.scales.sx[1]);
    assert_eq!(prob.start_coupling[0].len(), 1, "{:?}", prob.start_coupling);
    let (h, a, c) = prob.start_coupling[0][0];
    assert_eq!((h, a), (1, 0));
    assert!((c + sx_m / sx_mm).abs() <= 1e-8 * c.abs());
    let ev = whole_evaluator(&prob);
    let q: Vec<f64> = [0.6, 0.05]
        .iter()
        .zip(&prob.free)
        .map(|(&v, &k)| v / prob.scales.pscale[k])
        .collect();
    let x0 = ev.profiled_start(0, &q);
    let (big, small) = (x0[0] * sx_m, x0[1] * sx_mm);
    assert!((big - 0.3).abs() > 1e-3, "M's start is profiled: {big}");
    assert!(
        (big + small - 5.0).abs() <= 1e-9,
        "M0 + m0 = {}",
        big + small
    );
    assert_gradient_matches(&ev, &q, |v| 1e-6 * v.abs().max(1e-3), (1e-4, 1e-6));
}
