//! Fuzz target: the model-file loader, as `odenet simulate MODEL.json` runs it (parse the file,
//! parse each equation, compile the model, evaluate it), on structured mutations of the golden
//! model files of every shipped spec (`tests/golden/*.json`).
//!
//! Mutations act on the JSON tree: a value replaced by a hostile one (null, NaN-like strings,
//! 1e308, huge arrays, equations with `1/0`, deep nesting, unknown names, long names), a key
//! deleted or renamed, `format` changed, a state added or removed. The oracle: no panic; a
//! model that compiles evaluates without panicking.
//!
//! `ODENET_FUZZ_CASES` sets the number of inputs (default 300); `scripts/fuzz.sh` runs 10⁶.
//! Failing inputs are kept in `tests/fuzz_model_file.proptest-regressions`.

use odenet_fit::CompiledModel;
use odenet_report::ModelFile;
use odenet_tape::OdeRhs;
use proptest::prelude::*;
use serde_json::{Value, json};

fn cases() -> u32 {
    std::env::var("ODENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn corpus() -> &'static [Value] {
    static CORPUS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("golden folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                serde_json::from_str(&std::fs::read_to_string(f).expect("text")).expect("json")
            })
            .collect()
    })
}

fn hostile(k: usize) -> Value {
    let long = "q".repeat(3000);
    let deep = format!("{}x{}", "(".repeat(300), ")".repeat(300));
    let pool = [
        Value::Null,
        json!(true),
        json!(1e308),
        json!(-0.0),
        json!(0),
        json!(u64::MAX),
        json!("NaN"),
        json!("inf"),
        json!(""),
        json!("1/0"),
        json!("x/0 + y"),
        json!("log(-1)*x"),
        json!("exp(1000)"),
        json!("x**1000"),
        json!("a1*x + unknown"),
        json!(deep),
        json!(long),
        json!([]),
        json!(["x", "x"]),
        json!({}),
        json!({"x": "1"}),
        json!("odenet-model/2"),
        json!([1, 2, 3]),
        json!(vec!["s"; 200]),
    ];
    pool[k % pool.len()].clone()
}

#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, usize),
    Remove(usize),
    Rename(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => any::<usize>().prop_map(Edit::Rename),
    ]
}

/// Every path (as keys and indices) to a node of the tree, parents first.
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                here.push(Step::Key(k.clone()));
                paths(c, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            // Long arrays (learned noise) are sampled at their start only.
            for (i, c) in a.iter().enumerate().take(8) {
                here.push(Step::Index(i));
                paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn node<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in path {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

fn apply(doc: &Value, edits: &[Edit]) -> Value {
    let mut doc = doc.clone();
    for e in edits {
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        let pick = |i: usize| all[i % all.len()].clone();
        match *e {
            Edit::Replace(i, k) => {
                if let Some(n) = node(&mut doc, &pick(i)) {
                    *n = hostile(k);
                }
            }
            Edit::Remove(i) | Edit::Rename(i) => {
                let path = pick(i);
                let Some((Step::Key(last), parent)) = path.split_last() else {
                    continue;
                };
                if let Some(Value::Object(m)) = node(&mut doc, parent)
                    && let Some(v) = m.remove(last)
                    && matches!(e, Edit::Rename(_))
                {
                    m.insert(format!("{last}_"), v);
                }
            }
        }
    }
    doc
}

/// What `simulate` does with a model file before integrating it.
fn load(text: &str) {
    let Ok(mf) = ModelFile::parse(text) else {
        return;
    };
    let mut eqs = Vec::new();
    for src in &mf.equations {
        let Ok(e) = odenet_spec::parse_expr(src) else {
            return;
        };
        eqs.push(e);
    }
    let params: Vec<odenet_spec::ParamSpec> = mf
        .params
        .iter()
        .map(|(n, v)| odenet_spec::ParamSpec {
            name: n.clone(),
            init: *v,
            fixed: true,
            min: None,
            max: None,
            sparse: false,
        })
        .filter(|p| eqs.iter().any(|e| e.vars().contains(&p.name.as_str())))
        .collect();
    let hidden: Vec<bool> = mf.states.iter().map(|s| mf.hidden.contains(s)).collect();
    let p: Vec<f64> = params.iter().map(|q| q.init).collect();
    let Ok(model) =
        CompiledModel::template(&mf.name, &mf.states, &hidden, &mf.constants, params, eqs)
    else {
        return;
    };
    let consts = vec![1.0; model.constants.len()];
    let rhs = model.rhs(&consts);
    let n = rhs.nstates();
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut f = vec![0.0; n];
    rhs.rhs(&vec![0.5; n], &p, &mut scratch, &mut f);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn model_file_loader_survives_mutated_models(k in any::<usize>(), edits in prop::collection::vec(edit(), 0..4)) {
        let corpus = corpus();
        let doc = apply(&corpus[k % corpus.len()], &edits);
        let text = serde_json::to_string(&doc).expect("serialises");
        load(&text);
    }
}
