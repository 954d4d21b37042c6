//! Builds a spec and its data in code, with no file: simulates a logistic growth model,
//! x' = r·x·(1 − x/K), adds 2% noise, and discovers it from a complete quadratic library.
//! `cargo run --release --example spec_in_code`.

use std::path::Path;

use odenet_fit::{CompiledModel, rng::Rng};
use odenet_spec::{Spec, Table};

fn main() {
    // The truth as a template with every parameter fixed; simulated with odenet_fit::simulate.
    let truth = Spec::from_str(
        "states = [\"x\"]\n\
         [params]\n\
         r = { value = 0.8, fixed = true }\n\
         K = { value = 10.0, fixed = true }\n\
         [equations]\n\
         x = \"r*x*(1 - x/K)\"\n",
        Path::new("truth.toml"),
    )
    .unwrap_or_else(|d| fail(&d));
    let model = CompiledModel::from_spec(&truth).expect("the truth compiles");
    let p: Vec<f64> = model.params.iter().map(|p| p.init).collect();
    let times: Vec<f64> = (0..=120).map(|k| 0.1 * k as f64).collect();
    let clean = odenet_fit::simulate(
        &model,
        &p,
        &[],
        &[0.5],
        &times,
        odenet_fit::solve_options(&truth),
    )
    .expect("the truth integrates");
    let mut rng = Rng::new(7);
    let scale = clean.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let values = vec![
        clean
            .iter()
            .map(|v| v + 0.02 * scale * rng.normal())
            .collect(),
    ];

    // The candidate model: a spec with no [[data]] table, fitted to a table built in memory.
    let spec = Spec::from_str(
        "name = \"logistic\"\nstates = [\"x\"]\n[library]\npolynomial = 2\n",
        Path::new("logistic.toml"),
    )
    .unwrap_or_else(|d| fail(&d));
    let table = Table {
        file: "in-memory".into(),
        times,
        values,
    };
    let res = odenet_fit::fit(&spec, &[table], &|_| {}).expect("the fit runs");
    for (s, e) in res.states.iter().zip(&res.equations) {
        println!("d{s}/dt = {e}");
    }
    let r = res.term_param("x", "x").map_or(f64::NAN, |k| res.params[k]);
    let k2 = res
        .term_param("x", "x^2")
        .map_or(f64::NAN, |k| res.params[k]);
    println!("r = {r:.4} (true 0.8), K = {:.3} (true 10)", -r / k2);
}

fn fail(diags: &[odenet_spec::Diagnostic]) -> ! {
    for d in diags {
        eprintln!("{d}");
    }
    std::process::exit(2);
}
