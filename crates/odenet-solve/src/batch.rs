//! Many pieces at once: the unit of work of the work–precision benchmark (`odenet bench`), and
//! the reference solution its errors are measured against.
//!
//! The pieces come in groups that share one right-hand side (an experiment's constants); every
//! piece is integrated with the same parameters. The error of a solve is the largest deviation
//! from the reference over every output of every piece that succeeded, each state's deviation
//! divided by that state's largest magnitude in the reference (so states of very different
//! sizes, as in OREGO, weigh alike and the number is a relative error).

use odenet_tape::OdeRhs;

use crate::{Method, PieceSolver, Sens, SolveFailure, SolveOptions, SolveStats};

/// One piece: its start state and its output times (`times[0]` is the start, where the state
/// is `x0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub x0: Vec<f64>,
    pub times: Vec<f64>,
}

/// Pieces that share one right-hand side.
#[derive(Clone, Copy)]
pub struct Group<'a> {
    pub rhs: &'a dyn OdeRhs,
    pub pieces: &'a [Piece],
}

/// The outcome of [`solve_batch`], reusable across calls so that repeated solves (timing
/// repetitions) do not allocate.
#[derive(Debug, Default)]
pub struct Work {
    /// Per group, per piece: the states at the output times (row-major times × n); after a
    /// failure the entries from the failure on are unspecified.
    pub states: Vec<Vec<Vec<f64>>>,
    /// Per group, per piece: whether it was integrated to its last time.
    pub ok: Vec<Vec<bool>>,
    /// The counts summed over the pieces that succeeded.
    pub stats: SolveStats,
    /// Pieces that failed.
    pub failures: usize,
    /// Pieces that `Auto` switched to BDF.
    pub switched: usize,
    /// The first failure met, in group and piece order.
    pub first_failure: Option<SolveFailure>,
    /// BDF builds its diffsol problem and solver afresh for every piece (as
    /// [`PieceSolver::solve`] does) instead of once per group; for measuring that set-up.
    pub rebuild_per_piece: bool,
    solver: Option<PieceSolver>,
    sens: Vec<f64>,
    results: Vec<Result<SolveStats, SolveFailure>>,
}

impl Work {
    pub fn new() -> Self {
        Work::default()
    }
}

/// Integrates every piece of every group with parameters `p`, options `opts` and sensitivities
/// `sens` (computed and discarded: they are part of the work being measured), into `work`.
/// Only the first call with a given shape allocates (apart from diffsol's own allocations).
///
/// With [`Method::Bdf`] the pieces of a group share one diffsol problem and one solver, which
/// each piece only gives a fresh state (unless `work.rebuild_per_piece`); the results are
/// bit-identical to solving each piece with [`PieceSolver::solve`].
pub fn solve_batch(
    groups: &[Group<'_>],
    p: &[f64],
    opts: SolveOptions,
    sens: Sens,
    work: &mut Work,
) {
    work.stats = SolveStats::default();
    work.failures = 0;
    work.switched = 0;
    work.first_failure = None;
    work.states.resize_with(groups.len(), Vec::new);
    work.ok.resize_with(groups.len(), Vec::new);
    work.states.truncate(groups.len());
    work.ok.truncate(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let n = group.rhs.nstates();
        let np = group.rhs.nparams();
        let fits = work
            .solver
            .as_ref()
            .is_some_and(|s| s.nstates() == n && s.nparams() == np);
        if !fits {
            work.solver = Some(PieceSolver::new(n, np, opts));
        }
        let Some(solver) = work.solver.as_mut() else {
            continue;
        };
        solver.set_options(opts);
        let nc = solver.sens_columns(sens);
        let states = &mut work.states[g];
        states.resize_with(group.pieces.len(), Vec::new);
        states.truncate(group.pieces.len());
        let ok = &mut work.ok[g];
        ok.resize(group.pieces.len(), false);
        ok.truncate(group.pieces.len());
        if opts.method == Method::Bdf && !work.rebuild_per_piece {
            // One diffsol problem and solver for the whole group.
            let longest = group
                .pieces
                .iter()
                .map(|pc| pc.times.len())
                .max()
                .unwrap_or(0);
            work.sens.resize(work.sens.len().max(longest * n * nc), 0.0);
            for (x, pc) in states.iter_mut().zip(group.pieces) {
                x.resize(pc.times.len() * n, f64::NAN);
            }
            solver.solve_many_bdf(
                group.rhs,
                p,
                sens,
                group.pieces,
                states,
                &mut work.sens,
                &mut work.results,
            );
            for (k, r) in work.results.iter().enumerate() {
                match r {
                    Ok(st) => {
                        ok[k] = true;
                        add_stats(&mut work.stats, st);
                    }
                    Err(e) => {
                        ok[k] = false;
                        work.failures += 1;
                        work.first_failure.get_or_insert(*e);
                    }
                }
            }
            continue;
        }
        for (k, piece) in group.pieces.iter().enumerate() {
            let m = piece.times.len();
            states[k].resize(m * n, f64::NAN);
            work.sens.resize(work.sens.len().max(m * n * nc), 0.0);
            let out_s = &mut work.sens[..m * n * nc];
            match solver.solve(
                group.rhs,
                p,
                &piece.x0,
                &piece.times,
                sens,
                &mut states[k],
                out_s,
            ) {
                Ok(st) => {
                    ok[k] = true;
                    work.switched += usize::from(st.switched);
                    add_stats(&mut work.stats, &st);
                }
                Err(e) => {
                    ok[k] = false;
                    work.failures += 1;
                    work.first_failure.get_or_insert(e);
                }
            }
        }
    }
}

fn add_stats(acc: &mut SolveStats, s: &SolveStats) {
    acc.steps += s.steps;
    acc.rejected += s.rejected;
    acc.rhs_evals += s.rhs_evals;
    acc.jac_evals += s.jac_evals;
    acc.factorizations += s.factorizations;
    acc.used_bdf |= s.used_bdf;
    acc.switched |= s.switched;
}

/// The largest deviation of `work`'s states from `reference` over every output of every piece
/// that succeeded in `work`, each state's deviation divided by its largest magnitude in the
/// reference. `None` when no piece succeeded.
pub fn max_error(work: &Work, reference: &Reference) -> Option<f64> {
    let scale = &reference.scale;
    let n = scale.len();
    let mut worst: Option<f64> = None;
    for (g, pieces) in work.states.iter().enumerate() {
        for (k, x) in pieces.iter().enumerate() {
            if !work.ok[g][k] {
                continue;
            }
            let r = &reference.states[g][k];
            let e = x
                .chunks_exact(n)
                .zip(r.chunks_exact(n))
                .flat_map(|(xa, ra)| {
                    xa.iter()
                        .zip(ra)
                        .zip(scale)
                        .map(|((a, b), s)| (a - b).abs() / s)
                })
                .fold(0.0, f64::max);
            worst = Some(worst.map_or(e, |w| w.max(e)));
        }
    }
    worst
}

/// A tight-tolerance solution of every piece, with its accuracy estimated by a second,
/// different method at the same tolerance.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Same layout as [`Work::states`].
    pub states: Vec<Vec<Vec<f64>>>,
    /// Per state, its largest magnitude over every output (the error scale; at least the
    /// smallest positive normal number).
    pub scale: Vec<f64>,
    /// The method that computed `states`, and its relative tolerance.
    pub method: Method,
    pub rtol: f64,
    /// The cross-check: the second method and [`max_error`] of its solution against `states`.
    pub check: Method,
    pub accuracy: f64,
}

/// Step budget of a reference solve of one piece.
const REFERENCE_MAX_STEPS: usize = 20_000_000;

/// Computes the reference with the first two of our Tsitouras 5(4), diffsol's BDF and diffsol's
/// ESDIRK 3(4) that solve every piece at `rtol` (with `atol`): the first makes the reference,
/// the second checks it. On non-stiff problems that is Tsit5 checked by BDF; on stiff ones
/// (where our Tsit5 stops with [`SolveFailure::Stiff`]) BDF checked by ESDIRK 3(4). Fails when
/// fewer than two methods solve every piece.
pub fn reference(
    groups: &[Group<'_>],
    p: &[f64],
    rtol: f64,
    atol: f64,
) -> Result<Reference, SolveFailure> {
    let opts = |method| SolveOptions {
        method,
        rtol,
        atol,
        max_steps: REFERENCE_MAX_STEPS,
        blowup: f64::INFINITY,
    };
    let mut solved: Vec<(Method, Work)> = Vec::new();
    let mut last_failure = None;
    for method in [Method::Tsit5, Method::Bdf, Method::Esdirk34] {
        if solved.len() == 2 {
            break;
        }
        let mut w = Work::new();
        solve_batch(groups, p, opts(method), Sens::None, &mut w);
        match w.first_failure {
            None => solved.push((method, w)),
            Some(f) => last_failure = Some(f),
        }
    }
    if solved.len() < 2 {
        return Err(last_failure.unwrap_or(SolveFailure::ShapeMismatch {
            what: "groups (the reference needs at least one piece)",
            expected: 1,
            got: 0,
        }));
    }
    let (check, check_work) = solved.pop().expect("two solutions");
    let (method, primary) = solved.pop().expect("two solutions");
    let n = groups.first().map_or(0, |g| g.rhs.nstates());
    let mut scale = vec![f64::MIN_POSITIVE; n];
    for x in primary.states.iter().flatten() {
        for row in x.chunks_exact(n) {
            for (s, v) in scale.iter_mut().zip(row) {
                *s = s.max(v.abs());
            }
        }
    }
    let mut r = Reference {
        states: primary.states,
        scale,
        method,
        rtol,
        check,
        accuracy: f64::NAN,
    };
    r.accuracy = max_error(&check_work, &r).unwrap_or(f64::NAN);
    Ok(r)
}
