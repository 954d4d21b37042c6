//! Every shipped spec gives the model file recorded in `tests/golden/` (same support, every
//! coefficient and parameter equal to 1e-9 relative): a change of the fit's code that is meant
//! to keep its results keeps them. A deliberate change of results regenerates the files with
//! `scripts/update-golden.sh` and says why in its commit.

mod common;

use common::{odenet, root, scratch, stem, tomls};
use serde_json::Value;

/// Every fitted number of a model file, by a name that says where it is.
fn numbers(model: &Value) -> Vec<(String, Option<f64>)> {
    let mut out = Vec::new();
    if let Some(params) = model["params"].as_object() {
        for (k, v) in params {
            out.push((format!("params.{k}"), v.as_f64()));
        }
    }
    if let Some(terms) = model["terms"].as_object() {
        for (state, t) in terms {
            for (k, v) in t.as_object().into_iter().flatten() {
                out.push((format!("terms.{state}.{k}"), v.as_f64()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn shipped_specs_give_the_recorded_models() {
    let dir = scratch("golden");
    let mut mismatches = Vec::new();
    for spec in tomls("specs") {
        let name = stem(&spec);
        let out = dir.join(format!("{name}.json"));
        odenet([
            "fit",
            spec.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("model file"))
            .expect("model file is JSON");
        let golden_path = root().join("tests/golden").join(format!("{name}.json"));
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(&golden_path).expect("golden file"))
                .expect("golden file is JSON");
        let (g, w) = (numbers(&got), numbers(&want));
        let names = |v: &[(String, Option<f64>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        if names(&g) != names(&w) {
            mismatches.push(format!(
                "{name}: support {:?} != {:?}",
                names(&g),
                names(&w)
            ));
            continue;
        }
        for ((k, a), (_, b)) in g.iter().zip(&w) {
            let same = match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
                (a, b) => a.is_none() && b.is_none(),
            };
            if !same {
                mismatches.push(format!("{name}: {k} = {a:?}, recorded {b:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
