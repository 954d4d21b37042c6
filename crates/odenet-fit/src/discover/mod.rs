//! Discovery for models affine in their parameters (complete libraries, and templates that are
//! linear in their coefficients): candidate supports screened cheaply by the integral-form
//! regression, refitted by integrating them through long pieces of the data, and chosen by an
//! information criterion in the noise the data imply.
//!
//! 1. Candidates: sequentially thresholded regression over a grid of thresholds and several
//!    windows (every distinct support it produces), and per equation the best subsets of up to
//!    four terms (whole candidates, and equation parts for the swaps).
//! 2. Horizon: pieces as long as the best candidates track the data within the noise (at least
//!    long enough that the dynamics stand above it), tiling each experiment without overlap.
//! 3. Every candidate refitted on the tiles (Levenberg–Marquardt from its regression values),
//!    then backward elimination (Wald) from the richest one and swaps of single equations'
//!    supports add candidates.
//! 4. Under a conservation law (one state left out of the library), the best model's sparser
//!    equivalents in the full library are refitted too.
//! 5. Score: BIC = Σ_i RSS_i/σ_i² + k·ln N, with σ_i² the residual variance of the best-fitting
//!    candidate (floored by the integrator's tolerance); the lowest score wins.

mod pool;
mod rewrite;
mod scorer;
mod screen;
mod stepwise;

use odenet_spec::{InitKind, Segment, Spec, Table};

use crate::degeneracy::{Relation, reduced_free, relations};
use crate::evaluate::Evaluator;
use crate::fit::Control;
use crate::model::CompiledModel;
use crate::noise_level::smoothed_tables;
use crate::problem::{Layout, Problem};
use crate::regression::Regression;
use crate::result::{FitError, PathEntry};
use crate::solve_options;
use crate::support::Support;

use pool::{Pool, Stage, explore_level, path_entries, refit_all};
use scorer::{Candidate, FLOOR_PER_RTOL, REFIT_REL_TOL, Scorer};
use screen::{
    MIN_LEN, SCREEN_WINDOWS, SMOOTH_ABOVE_FLOOR, SMOOTH_HALF_WIDTHS, data_variance, screen,
    screen_reconstruction, signal_length, subset_screen, thin, thinning,
};

/// A longer horizon is kept while the best models' residual variance grows by at most this
/// factor (beyond it, no candidate tracks the data that long).
const TRACK_GROWTH: f64 = 2.0;

/// Candidates within this many units of the per-term penalty of the best are polished, with
/// the solver's and the optimiser's tolerances multiplied by POLISH_TOL.
const POLISH_MARGIN: f64 = 3.0;
const POLISH_TOL: f64 = 1e-2;

/// Polishing is skipped when the integrator's error, at its floor on every observation, adds
/// less than this many χ² units in the noise the data imply: it cannot move a score.
const POLISH_CHI2: f64 = 1.0;

/// A polished candidate is trusted when its score (in the unpolished noise) is at most this
/// much above its unpolished one.
const POLISH_SLACK: f64 = 2.0;

/// Between horizon levels, candidates whose score exceeds the best by more than this many
/// units of the per-term penalty are dropped.
const PRUNE_MARGIN: f64 = 30.0;

/// Between horizon levels, a superset of a candidate that scores better by more than this many
/// units of the per-term penalty is dropped.
const DOMINATED: f64 = 3.0;

/// A horizon is not lengthened to where the best model's flow amplifies a change of a piece's
/// start by more than this factor (beyond the growth of the state itself) by its end.
const MAX_AMPLIFICATION: f64 = 30.0;

/// A flow that amplifies a change of a piece's start by less than this factor over the next
/// horizon is tame: the ladder goes on even where the best model's residuals grow.
const TAME_AMPLIFICATION: f64 = 3.0;

/// The next horizon fits distinctly better when its best residual variance is below this
/// fraction of this horizon's.
const BETTER_NEXT: f64 = 0.95;

/// A choice is decisive when the runner-up's score exceeds the best's by this much (a BIC
/// difference of 10: very strong evidence).
const DECISIVE: f64 = 10.0;

/// The horizon grows at most by this factor per level.
const LADDER_STEP: usize = 4;

/// The first horizon is this fraction of the signal length (short pieces: a nearly convex
/// loss for the refits from the regression values).
const FIRST_LEVEL_SHARE: usize = 4;

/// The first level refits every screened candidate, so on large data its short tiles are
/// sampled: at most about this many pieces of the same length, evenly spaced (each refit's
/// cost is per piece, and ranking the screened candidates roughly needs no more). The levels
/// after it, and a first level that turns out to be the last, tile the whole data.
const FIRST_LEVEL_PIECES: usize = 128;

/// What discovery chose: the pieces, the support (refitted on them) and the path of every
/// candidate scored.
pub struct Discovered {
    pub layout: Layout,
    /// Coefficients the candidates were drawn from.
    pub candidates: usize,
    /// How the candidates were scored.
    pub selection: String,
    /// Linear relations among the states that hold on the data (each eliminated one state
    /// from the library).
    pub relations: Vec<Relation>,
    /// Piece failures met (and penalised) while refitting candidates.
    pub failures_seen: usize,
    /// The chosen support's active parameters and every parameter's value in user units (the
    /// normalised values of one problem mean nothing in another: scales depend on the data).
    pub chosen: (Vec<usize>, Vec<f64>),
    pub path: Vec<PathEntry>,
    /// Per parameter, the evidence that it belongs in the model: the BIC weights
    /// (∝ exp(−BIC/2)) of the scored candidates that contain it; NaN for parameters that are not
    /// candidates (fixed, not sparse, or eliminated by a relation).
    pub inclusion: Vec<f64>,
}

/// The screened data: the problem on the (possibly thinned) tables, what it was screened with,
/// and every candidate support with the threshold that gave it (densest first).
struct Screened<'m> {
    prob: Problem<'m>,
    /// Values of inactive parameters (user units).
    base: Vec<f64>,
    /// The data's noise variance per state (scaled).
    var_data: Vec<f64>,
    relations: Vec<Relation>,
    /// The parameters candidates are drawn from (the library less eliminated states).
    free: Vec<usize>,
    windows: Vec<usize>,
    supports: Vec<(Support, f64)>,
    /// Equation supports of the best-subset screen (tried in the best candidate's swaps).
    parts: Vec<Support>,
    /// The noise stands above the integrator's floor.
    noisy: bool,
}

/// The horizon reached: its piece length, its scorer and pool, and the piece failures met on
/// the levels before it.
struct Climbed<'m> {
    len: usize,
    scorer: Scorer<'m>,
    pool: Pool,
    failures: usize,
}

/// Discovery of an affine model by the integral-form screen, refits that follow the horizon as
/// it lengthens, and the information criterion; None when the model is not affine in its
/// parameters (or the spec asks for no regression), so that the L1 path applies.
pub fn run(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    control: &Control,
) -> Result<Option<Discovered>, FitError> {
    if spec.fit.init != InitKind::Regression {
        return Ok(None);
    }
    let t0 = std::time::Instant::now();
    // Large data are explored on every k-th row (the whole time span, coarser); the chosen
    // support is refitted on all of them.
    let k = match spec.fit.segment {
        Segment::Points(_) => 1,
        _ => thinning(tables),
    };
    let thinned;
    let tables = if k > 1 {
        thinned = thin(tables, k);
        tracing::info!(every = k, "large data: exploring on every k-th row");
        &thinned[..]
    } else {
        tables
    };
    let Some(sd) = screen_data(model, spec, tables)? else {
        return Ok(None);
    };
    tracing::info!(
        supports = sd.supports.len(),
        seconds = t0.elapsed().as_secs_f64(),
        "regression screen"
    );
    let Climbed {
        len,
        scorer,
        mut pool,
        failures,
    } = climb(&sd, (model, spec, tables), control)?;
    explore_level(&scorer, &mut pool, (Stage::Final, &sd.parts), control);
    // Model-based denoising: the best candidate reconstructs the data along its trajectories
    // (which follow the dynamics, not the noise); the screen regresses on that reconstruction
    // for supports the noisy data hid. Each is judged on the real data like the others.
    if sd.noisy && !control.cancelled() {
        let (added, mut parts) = screen_reconstruction(
            &scorer,
            &mut pool,
            (model, spec, tables),
            &sd.windows,
            control,
        );
        parts.retain(|p| !sd.parts.iter().any(|q| q.active == p.active));
        if added > 0 || !parts.is_empty() {
            parts.extend(sd.parts.iter().cloned());
            explore_level(&scorer, &mut pool, (Stage::Revisit, &parts), control);
        }
    }
    // Under conservation laws, the best model's sparser equivalents in the full library.
    if !sd.relations.is_empty() && !control.cancelled() {
        rewrite::sparser_equivalents(&scorer, &mut pool, &sd.relations, control);
    }
    let chosen = polish(&scorer, &mut pool, (model, spec, tables), control)?;
    for (c, s) in pool.cands.iter().zip(&pool.scores) {
        let names = c.names(model);
        tracing::info!(terms = c.support.len(), score = s, rss = ?c.rss, failures = c.failures, ?names, "candidate");
    }
    tracing::info!(len, seconds = t0.elapsed().as_secs_f64(), "discovery done");
    let path = path_entries(&scorer, &pool, chosen);
    let inclusion = inclusion(&scorer, &pool);
    let chosen = match chosen {
        Some(i) => pool.cands[i].support.clone(),
        None => sd
            .supports
            .last()
            .map(|(s, _)| s.clone())
            .unwrap_or_default(),
    };
    let chosen = (
        chosen.active.clone(),
        scorer.prob.scales.user(&sd.base, &chosen.active, &chosen.q),
    );
    Ok(Some(Discovered {
        candidates: sd.free.len(),
        selection: format!(
            "the lowest BIC: the residuals over pieces of the chosen horizon, in units of the noise \
             variance they imply, plus ln N = {:.1} per term",
            scorer.penalty()
        ),
        relations: sd.relations,
        failures_seen: failures
            + scorer
                .failures_seen
                .load(std::sync::atomic::Ordering::Relaxed),
        layout: match scorer.prob.layout {
            Layout::Tiles { len } if k > 1 => Layout::Tiles {
                len: (len - 1) * k + 1,
            },
            l => l,
        },
        chosen,
        path,
        inclusion,
    }))
}

/// The evidence per parameter that it belongs in the model: the sum of the BIC weights
/// w_c ∝ exp(−(BIC_c − BIC_min)/2) of the candidates containing it (an approximation of its
/// posterior inclusion probability over the candidates scored). NaN where the parameter is no
/// candidate term.
fn inclusion(scorer: &Scorer, pool: &Pool) -> Vec<f64> {
    let model = scorer.prob.model;
    // The candidate terms: the reduced library's, and any a sparser equivalent brought back.
    let mut terms: Vec<usize> = scorer.free.clone();
    terms.extend(
        pool.cands
            .iter()
            .flat_map(|c| c.support.active.iter().copied()),
    );
    terms.sort_unstable();
    terms.dedup();
    terms.retain(|&k| model.params[k].sparse);
    let supports: Vec<(&[usize], f64)> = pool
        .cands
        .iter()
        .zip(&pool.scores)
        .map(|(c, &s)| (&c.support.active[..], s))
        .collect();
    crate::diagnose::bic_inclusion(model.params.len(), &terms, &supports)
}

/// The regression screen of the data (and, when they are noisy, of the data smoothed at a few
/// widths), after conservation laws have taken one state each out of the library. None when
/// there is nothing to regress (every parameter a start, or no usable design).
fn screen_data<'m>(
    model: &'m CompiledModel,
    spec: &Spec,
    tables: &[Table],
) -> Result<Option<Screened<'m>>, FitError> {
    let opts = solve_options(spec);
    let prob = Problem::new(model, spec, tables, opts)?;
    if prob.starts_only {
        return Ok(None);
    }
    let mut base = prob.init.clone();
    for &k in &prob.free {
        base[k] = 0.0;
    }
    let maxrows = prob.exps.iter().map(|e| e.rows).max().unwrap_or(0);
    let var_data = data_variance(tables, &prob, opts.rtol);
    // Conservation laws make the library singular: eliminate one state of each from it.
    let relations = relations(&prob, &var_data);
    let free = reduced_free(model, &prob.free, &relations);
    for r in &relations {
        tracing::info!(relation = %r.describe(&model.states), "relation among the states");
    }
    let windows: Vec<usize> = SCREEN_WINDOWS
        .iter()
        .copied()
        .filter(|&w| w == 1 || 4 * w < maxrows)
        .collect();
    let Some(reg) = Regression::new(&prob, &base, &free, &windows) else {
        return Ok(None);
    };
    let mut supports = screen(&reg, &free);
    // Thresholding walks one path through the supports; the exhaustive search of small ones
    // adds those it misses under near-collinear columns.
    let (whole, mut parts) = subset_screen(&reg, &prob, &free);
    for (s, gamma) in whole {
        if !supports.iter().any(|(c, _)| c.active == s.active) {
            supports.push((s, gamma));
        }
    }
    supports.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    // Under noise the regression on the raw data is noisy too: the screen runs again on the
    // data smoothed by local quadratics of a few widths, for more candidate supports (each
    // judged by its trajectory refit like the others).
    let noisy = var_data
        .iter()
        .any(|&v| v.sqrt() > SMOOTH_ABOVE_FLOOR * FLOOR_PER_RTOL * opts.rtol);
    if noisy {
        for half in SMOOTH_HALF_WIDTHS {
            if 4 * half >= maxrows {
                continue;
            }
            let smooth = smoothed_tables(tables, half);
            let Ok(sp) = Problem::new(model, spec, &smooth, opts) else {
                continue;
            };
            let Some(sreg) = Regression::new(&sp, &base, &free, &windows) else {
                continue;
            };
            // Values move between problems in user units (scales depend on the data).
            let moved = |s: Support| {
                let p = sp.scales.user(&base, &s.active, &s.q);
                let q = prob.scales.normalised(&p, &s.active);
                s.with_values(q)
            };
            let (whole, sparts) = subset_screen(&sreg, &sp, &free);
            for (s, gamma) in screen(&sreg, &free).into_iter().chain(whole) {
                if !supports.iter().any(|(c, _)| c.active == s.active) {
                    supports.push((moved(s), gamma));
                }
            }
            for s in sparts {
                if !parts.iter().any(|c: &Support| c.active == s.active) {
                    parts.push(moved(s));
                }
            }
        }
        supports.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        for p in &parts {
            let names: Vec<&str> = p
                .active
                .iter()
                .map(|&k| model.params[k].name.as_str())
                .collect();
            tracing::debug!(?names, "best-subset part");
        }
    }
    Ok(Some(Screened {
        prob,
        base,
        var_data,
        relations,
        free,
        windows,
        supports,
        parts,
        noisy,
    }))
}

/// The horizon ladder: every screened support refitted on short tiles, then the tiles
/// lengthened while the best models keep fitting the data at the noise level (and the flow
/// does not amplify too much), with more candidates explored at each level.
fn climb<'m>(
    sd: &Screened<'m>,
    (model, spec, tables): (&'m CompiledModel, &Spec, &[Table]),
    control: &Control,
) -> Result<Climbed<'m>, FitError> {
    let t0 = std::time::Instant::now();
    let opts = solve_options(spec);
    let (base, free) = (&sd.base, &sd.free[..]);
    let maxrows = sd.prob.exps.iter().map(|e| e.rows).max().unwrap_or(0);
    // The pieces the user fixed (`segment = N`); `"whole"` climbs the ladder of tiles (a
    // continuation from short pieces) up to whole experiments whatever their fit.
    let fixed_layout = match (spec.fit.segment, sd.prob.layout) {
        (Segment::Points(_), l) => Some(l),
        _ => None,
    };
    let to_whole = sd.prob.layout == Layout::Whole;
    let lmin = signal_length(&sd.prob, &sd.var_data).min(maxrows);
    tracing::info!(lmin, "signal length");
    let layout_of = |len: usize| match fixed_layout {
        Some(l) => l,
        None if to_whole && len >= maxrows => Layout::Whole,
        None => Layout::Tiles { len: len.max(2) },
    };
    let mut len = (lmin / FIRST_LEVEL_SHARE).max(MIN_LEN).min(maxrows);
    let first = sampled(layout_of(len), &sd.prob);
    let mut on_sample = first != layout_of(len);
    let prob = Problem::with_layout(model, spec, tables, opts, Some(first))?;
    let mut scorer = Scorer::new(prob, base.clone(), free);
    let mut pool = refit_all(&scorer, &sd.supports, control);
    explore_level(&scorer, &mut pool, (Stage::First, &sd.parts), control);
    let mut failures = 0;
    while fixed_layout.is_none() && len < maxrows && !control.cancelled() {
        let Some(b) = pool.best() else { break };
        let next = (LADDER_STEP * len).min(maxrows);
        let next_prob = Problem::with_layout(model, spec, tables, opts, Some(layout_of(next)))?;
        let amp = amplification(&next_prob, &scorer, &pool, base);
        let amplifies = amp.partial_cmp(&MAX_AMPLIFICATION) != Some(std::cmp::Ordering::Less);
        if !to_whole && amplifies {
            tracing::info!(
                len,
                next,
                amplification = amp,
                "horizon kept: the flow amplifies too much"
            );
            break;
        }
        let next_scorer = Scorer::new(next_prob, base.clone(), free);
        let next_pool = refit_all(&next_scorer, &carried(&scorer, &pool), control);
        let (v0, v1) = (
            scorer.mean_variance(&pool.var),
            next_scorer.mean_variance(&next_pool.var),
        );
        // The best model of this horizon should still fit the data at the next one; when it
        // does not (a chaotic flow loses even a good model's basin as pieces lengthen), the
        // next horizon is taken only if the choice here was not decisive (a wrong model can
        // win on short pieces, where the dynamics barely show).
        let mean_var = |sc: &Scorer, c: &Candidate| sc.mean_variance(&sc.variance(c));
        let best_survives = next_pool
            .cands
            .iter()
            .find(|c| c.support.active == pool.cands[b].support.active)
            .is_some_and(|c| {
                mean_var(&next_scorer, c) <= TRACK_GROWTH * mean_var(&scorer, &pool.cands[b])
            });
        let runner_up = (0..pool.cands.len())
            .filter(|&i| i != b)
            .map(|i| pool.scores[i])
            .fold(f64::INFINITY, f64::min);
        let decisive = runner_up - pool.scores[b] > DECISIVE;
        // A candidate fitting distinctly better on the longer pieces also says the choice here
        // was wrong.
        let better_next = v1 < BETTER_NEXT * v0;
        // Where the flow is tame (a start error is not amplified), residuals that grow with the
        // horizon are the candidates' model error, not lost basins: the longer pieces judge
        // which model reproduces the data when integrated, so the ladder goes on.
        let tame = amp < TAME_AMPLIFICATION;
        let tracks = (v1 <= TRACK_GROWTH * v0 || tame)
            && next_pool.best().is_some()
            && (best_survives || !decisive || better_next || tame);
        tracing::info!(
            len,
            next,
            amplification = amp,
            var = v0,
            next_var = v1,
            best_survives,
            decisive,
            seconds = t0.elapsed().as_secs_f64(),
            "horizon"
        );
        if !to_whole && !tracks {
            failures += next_scorer
                .failures_seen
                .load(std::sync::atomic::Ordering::Relaxed);
            break;
        }
        failures += scorer
            .failures_seen
            .load(std::sync::atomic::Ordering::Relaxed);
        (len, scorer, pool) = (next, next_scorer, next_pool);
        on_sample = false;
        explore_level(&scorer, &mut pool, (Stage::Later, &sd.parts), control);
    }
    // The ladder stopped on a sampled first level: its candidates are judged on every tile.
    if on_sample && pool.best().is_some() && !control.cancelled() {
        let prob = Problem::with_layout(model, spec, tables, opts, Some(layout_of(len)))?;
        let whole = Scorer::new(prob, base.clone(), free);
        let mut whole_pool = refit_all(&whole, &carried(&scorer, &pool), control);
        failures += scorer
            .failures_seen
            .load(std::sync::atomic::Ordering::Relaxed);
        explore_level(&whole, &mut whole_pool, (Stage::First, &sd.parts), control);
        (scorer, pool) = (whole, whole_pool);
    }
    Ok(Climbed {
        len,
        scorer,
        pool,
        failures,
    })
}

/// The first level's layout: `tiles` itself, or when it has more than FIRST_LEVEL_PIECES
/// pieces, pieces of the same length spread evenly over each experiment.
fn sampled(tiles: Layout, prob: &Problem) -> Layout {
    let Layout::Tiles { len } = tiles else {
        return tiles;
    };
    let count: usize = prob.exps.iter().map(|e| e.rows / len.max(1)).sum();
    if count <= FIRST_LEVEL_PIECES {
        return tiles;
    }
    Layout::Pieces {
        len,
        stride: len * count.div_ceil(FIRST_LEVEL_PIECES),
    }
}

/// The candidates carried to another layout, best first: those within PRUNE_MARGIN penalties
/// of the best and not dominated by a subset of them.
fn carried(scorer: &Scorer, pool: &Pool) -> Vec<(Support, f64)> {
    let Some(b) = pool.best() else {
        return Vec::new();
    };
    pool.ranked(pool.scores[b] + PRUNE_MARGIN * scorer.penalty(), |i| {
        !dominated(pool, i, scorer.penalty())
    })
}

/// Candidate `i` is a strict superset of a candidate that scores better by more than
/// DOMINATED penalties: its extra terms did not pay for themselves on this horizon by a wide
/// margin, and refitting it on the next one is wasted (a superset that only just lost — a true
/// term the shorter pieces barely see — is kept).
fn dominated(pool: &Pool, i: usize, penalty: f64) -> bool {
    let s = &pool.cands[i].support.active;
    pool.cands.iter().enumerate().any(|(j, c)| {
        let t = &c.support.active;
        j != i
            && t.len() < s.len()
            && pool.scores[j] + DOMINATED * penalty < pool.scores[i]
            && t.iter().all(|k| s.contains(k))
    })
}

/// How much the flow amplifies a change of a piece's start over the pieces of `next` (beyond
/// each state's own growth). A flow that amplifies too much (chaos) makes the refits on such
/// pieces a search among many local minima: the horizon stops short of that. Measured on the
/// best model and, while it amplifies, on its close contenders (within POLISH_MARGIN
/// penalties): a wrong model with a wild flow must not keep the horizon short when a contender
/// with a tame one fits nearly as well.
fn amplification(next: &Problem, scorer: &Scorer, pool: &Pool, base: &[f64]) -> f64 {
    let Some(b) = pool.best() else {
        return f64::NAN;
    };
    let amp_of = |c: usize| {
        let s = &pool.cands[c].support;
        Evaluator::new(next, s.active.clone(), base.to_vec(), next.all_pieces()).amplification(&s.q)
    };
    let mut amp = amp_of(b);
    let limit = pool.scores[b] + POLISH_MARGIN * scorer.penalty();
    let mut contenders: Vec<usize> = (0..pool.cands.len())
        .filter(|&c| c != b && pool.scores[c] <= limit)
        .collect();
    contenders.sort_by(|&x, &y| pool.scores[x].total_cmp(&pool.scores[y]));
    for c in contenders {
        if amp < MAX_AMPLIFICATION {
            break;
        }
        amp = amp.min(amp_of(c));
    }
    amp
}

/// The close contenders refitted to a tighter tolerance (solver and optimiser) and scored again
/// among themselves: the choice between them rests on a few χ² units. Returns the chosen
/// candidate (its support replaced by the polished one when that is trusted).
fn polish(
    scorer: &Scorer,
    pool: &mut Pool,
    (model, spec, tables): (&CompiledModel, &Spec, &[Table]),
    control: &Control,
) -> Result<Option<usize>, FitError> {
    let mut chosen = pool.best();
    let at_floor: Vec<f64> = scorer
        .nobs
        .iter()
        .map(|n| n * scorer.floor * scorer.floor)
        .collect();
    let solver_chi2 = scorer.chi2(&at_floor, &pool.var);
    tracing::debug!(solver_chi2, "integrator error in the noise");
    let Some(b) = chosen.filter(|_| solver_chi2 >= POLISH_CHI2 && !control.cancelled()) else {
        return Ok(chosen);
    };
    let close = pool.ranked(pool.scores[b] + POLISH_MARGIN * scorer.penalty(), |_| true);
    if close.len() <= 1 {
        return Ok(chosen);
    }
    let opts = solve_options(spec);
    let tight = odenet_solve::SolveOptions {
        rtol: opts.rtol * POLISH_TOL,
        atol: opts.atol * POLISH_TOL,
        ..opts
    };
    let polish = Scorer::new(
        Problem::with_layout(model, spec, tables, tight, Some(scorer.prob.layout))?,
        scorer.base.clone(),
        &scorer.free,
    )
    .with_rel_tol(REFIT_REL_TOL * POLISH_TOL);
    let polished = refit_all(&polish, &close, control);
    for (c, s) in polished.cands.iter().zip(&polished.scores) {
        tracing::info!(terms = c.support.len(), score = s, "polished");
    }
    // A polished refit that lands on a worse fit than before (a long chaotic piece, where the
    // tighter solve leads elsewhere) is not trusted; the choice is made among the others.
    let consistent: Vec<(usize, usize)> = polished
        .cands
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let j = pool
                .cands
                .iter()
                .position(|p| p.support.active == c.support.active)?;
            (scorer.score(c, &pool.var) <= pool.scores[j] + POLISH_SLACK).then_some((i, j))
        })
        .collect();
    if let Some(&(i, j)) = consistent
        .iter()
        .min_by(|a, b| polished.scores[a.0].total_cmp(&polished.scores[b.0]))
    {
        pool.cands[j].support = polished.cands[i].support.clone();
        chosen = Some(j);
    }
    Ok(chosen)
}
