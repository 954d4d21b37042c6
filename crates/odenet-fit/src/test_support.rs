//! Fixtures shared by the unit tests of several modules: exact Lotka–Volterra data with a
//! template that fits it, and an evaluator over every piece of a problem.

use std::path::Path;

use odenet_spec::{Spec, Table};

use crate::evaluate::Evaluator;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::solve_options;

/// Exact Lotka–Volterra data (a = 1, b = −0.05, c = −1, d = 0.03 from x(0) = (20, 10), 200 rows
/// 0.05 apart) and the template a·x1 + b·x1·x2, c·x2 + d·x1·x2 that fits it (b, c, d started off
/// the truth, c ≤ 0, none sparse; tolerances 1e-10 and 1e-12).
pub(crate) struct ExactLotkaVolterra {
    pub spec: Spec,
    pub model: CompiledModel,
    pub table: Table,
}

impl ExactLotkaVolterra {
    /// The data and template with `a`'s entry `a_bound` (its start and bounds), and with
    /// `spurious` a sparse term e·x1 in x2's equation (e = 0 in the truth, started at 0.05).
    pub fn new(a_bound: &str, spurious: bool) -> ExactLotkaVolterra {
        let (e_param, e_term) = if spurious {
            ("e = 0.05\n", " + e*x1")
        } else {
            ("", "")
        };
        let text = format!(
            "states = [\"x1\", \"x2\"]\n[params]\na = {{ {a_bound}, sparse = false }}\n\
             b = {{ init = -0.04, sparse = false }}\nc = {{ init = -0.8, max = 0.0, sparse = false }}\n\
             d = {{ init = 0.02, sparse = false }}\n{e_param}[equations]\nx1 = \"a*x1 + b*x1*x2\"\n\
             x2 = \"c*x2 + d*x1*x2{e_term}\"\n[fit]\nrtol = 1e-10\natol = 1e-12\n"
        );
        let spec = Spec::from_str(&text, Path::new("t.toml")).expect("spec");
        let model = CompiledModel::from_spec(&spec).expect("model");
        let times: Vec<f64> = (0..200).map(|k| k as f64 * 0.05).collect();
        let mut truth = vec![1.0, -0.05, -1.0, 0.03];
        if spurious {
            truth.push(0.0);
        }
        let xs = crate::simulate(
            &model,
            &truth,
            &[],
            &[20.0, 10.0],
            &times,
            solve_options(&spec),
        )
        .expect("truth integrates");
        let table = Table {
            file: "d.csv".into(),
            times: times.clone(),
            values: (0..2)
                .map(|i| (0..times.len()).map(|k| xs[k * 2 + i]).collect())
                .collect(),
        };
        ExactLotkaVolterra { spec, model, table }
    }

    /// The fit's problem of the template on the data.
    pub fn problem(&self) -> Problem<'_> {
        Problem::new(
            &self.model,
            &self.spec,
            std::slice::from_ref(&self.table),
            solve_options(&self.spec),
        )
        .expect("problem")
    }
}

/// An evaluator over every piece of `prob`, every free parameter active, the others at the
/// spec's values.
pub(crate) fn whole_evaluator<'p, 'm>(prob: &'p Problem<'m>) -> Evaluator<'p, 'm> {
    Evaluator::new(
        prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
    )
}
