//! Fits a spec file with the library alone (no report, no CLI): `cargo run --release --example
//! fit_spec -- SPEC`. Prints the equations, parameters, loss and the sparsity path.

use std::path::Path;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fit_spec SPEC");
        std::process::exit(2);
    };
    let spec = match odenet_spec::Spec::load(Path::new(&path)) {
        Ok(s) => s,
        Err(d) => {
            for x in d {
                eprintln!("{x}");
            }
            std::process::exit(2);
        }
    };
    let tables = match odenet_spec::load_tables(&spec) {
        Ok(t) => t,
        Err(d) => {
            for x in d {
                eprintln!("{x}");
            }
            std::process::exit(2);
        }
    };
    match odenet_fit::fit(&spec, &tables, &|_| {}) {
        Ok(r) => {
            for (s, e) in r.states.iter().zip(&r.equations) {
                println!("d{s}/dt = {e}");
            }
            if !r.library {
                for (n, v) in r.param_names.iter().zip(&r.params) {
                    println!("  {n} = {v}");
                }
            }
            println!(
                "loss {:e}, {} active, {:.3} s, converged {}",
                r.loss, r.active_terms, r.seconds, r.converged
            );
            for p in &r.path {
                println!(
                    "  {} {:>3} train {:e} held-out {:e}",
                    if p.selected { "*" } else { " " },
                    p.active_terms,
                    p.train_loss,
                    p.holdout_loss
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
