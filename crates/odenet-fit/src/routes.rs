//! Where the exploration of the sparsity path starts, and from how many starts: the regression
//! guess when the model is affine in its parameters, else the spec's values with starts around
//! them, or — for hidden states known only at experiment starts — the spec's values and the
//! global stage's minima (`hidden`). The parsimonious choice among the routes is `explore::parsimonious`.

use odenet_spec::InitKind;

use crate::explore::{Exploration, Start};
use crate::fit::{Fitter, REGRESSION_ROUNDS};
use crate::regression::thresholded_guess;
use crate::result::{GlobalSearch, Progress};
use crate::rng::Rng;
use crate::support::Support;

/// Starts explored when there is no regression guess and no global stage (on problems of at
/// most MULTI_START_MAX_PIECES pieces), and their spread around the given starting values
/// (normalised units).
const MULTI_STARTS: usize = 6;
const MULTI_START_MAX_PIECES: usize = 200;
const MULTI_START_SPREAD: f64 = 1.0;
/// A further start is abandoned when its dense fit's loss exceeds the best so far by this factor.
const MULTI_START_ABORT: f64 = 2.0;
/// Where the exploration starts: the regression guess when the model is affine in its
/// parameters (terms it set exactly to zero start pruned, library mode), else the spec's
/// values. Returns the support, whether it came from the regression, and its training loss.
fn starting_support(fitter: &Fitter) -> (Support, bool, Option<f64>) {
    let prob = fitter.prob;
    let spec = fitter.spec;
    let q_spec = prob.scales.normalised(&prob.init, &prob.free);
    let start = match spec.fit.init {
        InitKind::Zero => vec![0.0; prob.free.len()],
        InitKind::Spec | InitKind::Regression => q_spec.clone(),
    };
    let mut s = Support::new(prob.free.clone(), start);
    if spec.fit.init != InitKind::Regression {
        return (s, false, None);
    }
    let guess = thresholded_guess(prob, &fitter.base, &s.active, REGRESSION_ROUNDS, |q| {
        fitter.prune_set(&s.with_values(q.to_vec()), spec.fit.threshold.0)
    });
    let Some(qr) = guess else {
        return (s, false, None);
    };
    let l_reg = fitter.loss(&s.with_values(qr.clone()), &fitter.train);
    let l_spec = fitter.loss(&s.with_values(q_spec), &fitter.train);
    if !(l_reg.is_finite() && l_spec.partial_cmp(&l_reg) != Some(std::cmp::Ordering::Less)) {
        return (s, false, None);
    }
    s.q = qr;
    if prob.model.is_library() {
        let drop: Vec<bool> = s
            .active
            .iter()
            .zip(&s.q)
            .map(|(&k, &v)| prob.model.params[k].sparse && v == 0.0)
            .collect();
        s = s.without(&drop);
    }
    (s, true, Some(l_reg))
}

/// Explores the path from the starting support; without a regression guess (a model not affine
/// in its parameters) the starting values may lie in a basin of another model that fits as
/// well: on small problems explore from several starts around them and keep the parsimonious
/// choice among them (`explore::parsimonious`). With a global stage (hidden states), its minima
/// are explored instead of the starts around the spec's values.
pub(crate) fn explore_starts(
    fitter: &mut Fitter,
    global_stage: Option<crate::hidden::Global>,
) -> Option<Exploration> {
    let (start, regressed, regressed_loss) = starting_support(fitter);
    // Hidden states known only at experiment starts: the global stage (multi-start, multiple
    // shooting) finds minima to explore the path from. The spec's own start is explored too and
    // the parsimonious choice kept: the global stage's best minimum (of the dense template)
    // does not always lead down the path to the best sparse support, which the path from the
    // spec's values sometimes reaches (benches/README.md, "Hidden states"). The global stage
    // replaces the starts around the spec's values: it draws its own over the box.
    let mut global: Option<Exploration> = None;
    let hidden_stage = global_stage.is_some();
    if let Some(g) = global_stage {
        fitter.confidence = Some(GlobalSearch {
            starts: g.starts,
            at_best: g.at_best,
        });
        global = crate::hidden::explore_minima(fitter, &g);
    }
    let nstarts = if hidden_stage {
        1
    } else if !regressed && !start.is_empty() && fitter.prob.pieces.len() <= MULTI_START_MAX_PIECES
    {
        MULTI_STARTS
    } else {
        1
    };
    let mut start_rng = Rng::new(fitter.spec.fit.seed ^ 0x6d75_6c74);
    let mut routes: Vec<Exploration> = global.into_iter().collect();
    let mut best_first = f64::INFINITY;
    for s in 0..nstarts {
        if fitter.control.cancelled() && !routes.is_empty() {
            break;
        }
        let point = if s == 0 {
            start.clone()
        } else {
            let q = start
                .q
                .iter()
                .map(|v| v + MULTI_START_SPREAD * start_rng.normal())
                .collect();
            start.with_values(q)
        };
        if nstarts > 1 {
            (fitter.control.progress)(Progress::Stage(format!("start {} of {nstarts}", s + 1)));
        }
        let how = Start {
            regressed,
            // The spec's own start is explored to its end, and the others are judged against
            // it: on actin KCl data these paths reach the true support where the global
            // stage's minimum leads elsewhere (abandoning them at twice the global stage's
            // dense loss lost two of five realisations).
            abort_above: if s == 0 {
                f64::INFINITY
            } else {
                MULTI_START_ABORT * best_first
            },
            start_loss: if s == 0 { regressed_loss } else { None },
        };
        let ex = {
            let _span = tracing::info_span!("start", index = s + 1, of = nstarts).entered();
            // With a global stage, the spec's own start is a route like its minima: its choice
            // is improved by the same stepwise and floating moves.
            crate::hidden::explore_route(fitter, point, how, hidden_stage && s == 0)
        };
        if ex.first_loss.is_finite() {
            best_first = best_first.min(ex.first_loss);
        }
        routes.push(ex);
    }
    crate::explore::parsimonious(routes)
}

/// The global stage (multi-start, multiple shooting) when hidden states are known only at
/// experiment starts: the minima the paths are explored from.
pub(crate) fn global_stage(fitter: &Fitter) -> Option<crate::hidden::Global> {
    let prob = fitter.prob;
    if !prob.starts_only {
        return None;
    }
    let (start, _, _) = starting_support(fitter);
    if start.is_empty() {
        return None;
    }
    let spec_start = start.with_values(prob.scales.normalised(&prob.init, &start.active));
    crate::hidden::search(fitter, &spec_start)
}
