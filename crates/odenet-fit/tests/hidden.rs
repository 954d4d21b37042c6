//! Hidden-state templates fitted from generic starts on sparse data sampled at random times
//! (issue 10): the data are generated inside the tests from the true equations, only some states
//! observed, and the template starts where a user would start it (zeros, a rough positive rate).

mod common;

use std::path::{Path, PathBuf};

use common::generate;
use odenet_fit::FitResult;
use odenet_fit::rng::Rng;
use odenet_spec::Spec;

/// t = 0 and `lo..=hi` distinct uniform random times in (0, t_end), sorted.
fn random_times(rng: &mut Rng, t_end: f64, lo: usize, hi: usize) -> Vec<f64> {
    let k = lo + rng.below(hi - lo + 1);
    let mut t: Vec<f64> = (0..k).map(|_| t_end * rng.uniform()).collect();
    t.retain(|&v| v > 0.0);
    t.sort_by(f64::total_cmp);
    t.dedup();
    std::iter::once(0.0).chain(t).collect()
}

/// A scratch folder for one test's data files.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odenet-hidden-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes the observed columns `cols` (state index, name) of a generated table as CSV.
fn write_csv(path: &Path, table: &odenet_spec::Table, cols: &[(usize, &str)]) {
    let mut csv = String::from("t");
    for (_, name) in cols {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push('\n');
    for (k, t) in table.times.iter().enumerate() {
        csv.push_str(&t.to_string());
        for (i, _) in cols {
            csv.push_str(&format!(",{}", table.values[*i][k]));
        }
        csv.push('\n');
    }
    std::fs::write(path, csv).expect("write data");
}

fn load(dir: &Path, text: &str) -> (Spec, Vec<odenet_spec::Table>) {
    let spec = Spec::from_str(text, &dir.join("spec.toml")).unwrap_or_else(|d| panic!("{d:?}"));
    let tables = odenet_spec::load_tables(&spec).unwrap_or_else(|d| panic!("{d:?}"));
    (spec, tables)
}

fn param(res: &FitResult, name: &str) -> (f64, f64) {
    let k = res
        .param_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no parameter {name}"));
    (res.params[k], res.std_errors[k])
}

/// The support is exactly `truth`'s parameters (every other free one pruned to zero) and each
/// true coefficient is within 2.5 reported standard errors of its value.
fn assert_recovered(res: &FitResult, truth: &[(&str, f64)], zero: &[&str]) {
    let summary: Vec<String> = res
        .param_names
        .iter()
        .zip(res.params.iter().zip(&res.std_errors))
        .map(|(n, (v, s))| format!("{n} = {v:.4e} ± {s:.2e}"))
        .collect();
    for name in zero {
        let v = param(res, name).0;
        assert!(v == 0.0, "{name} = {v} kept: {summary:?}");
    }
    for &(name, t) in truth {
        let (v, se) = param(res, name);
        assert!(
            v != 0.0 && se.is_finite() && (v - t).abs() <= 2.5 * se,
            "{name} = {v} ± {se}, truth {t}: {summary:?}"
        );
    }
}

/// The global stage ran and its confidence figure is reported: some of its starts reached the
/// best loss, never more than were run.
fn assert_global(res: &FitResult) {
    let g = res.global.expect("a global stage for hidden states");
    assert!(
        g.starts >= 8 && (1..=g.starts).contains(&g.at_best),
        "{g:?}"
    );
}

/// The seven KCl experiments of Table 5 as a laboratory would measure them: 15–20 samples per
/// experiment at uniformly random times in [0, 55] (the first after t = 0 often after the rise),
/// 1% noise, only M observed. Returns the scratch folder and the spec's `[[data]]` tables.
fn actin_kcl_data(tag: &str, seed: u64) -> (PathBuf, String) {
    let flux = "-5.12e-2*m + 2*7.98e-3*m^2 + 1.16e-2*m*M + 7.39e-1*m*P - 8.82e-1*P";
    let eqs = [
        "-5.12e-2*m + 7.98e-3*m^2 + 1.16e-2*m*M - 5.33e-1*P".to_string(),
        flux.to_string(),
        format!("-({flux})"),
    ];
    let eqs: Vec<&str> = eqs.iter().map(String::as_str).collect();
    let dir = scratch(tag);
    let mut rng = Rng::new(seed);
    let mut data = String::new();
    for (e, m_tot) in [7.4, 9.6, 12.4, 14.2, 16.2, 18.4, 20.5].iter().enumerate() {
        let times = random_times(&mut rng, 55.0, 15, 20);
        let table = generate(
            &["P", "M", "m"],
            &eqs,
            &[0.0, 0.0, *m_tot],
            &times,
            0.01,
            100 * seed + e as u64,
        );
        let file = format!("kcl-{e}.csv");
        write_csv(&dir.join(&file), &table, &[(1, "M")]);
        data.push_str(&format!(
            "\n[[data]]\nfile = \"{file}\"\nconstants = {{ m_tot = {m_tot} }}\n\
             initial = {{ m = \"m_tot - M\", P = 0.0 }}\n"
        ));
    }
    (dir, data)
}

const KCL_TRUTH: [(&str, f64); 6] = [
    ("a1", -5.12e-2),
    ("a2", 7.98e-3),
    ("a3", 1.16e-2),
    ("a4", -5.33e-1),
    ("a9", 7.39e-1),
    ("a10", -8.82e-1),
];

const KCL_EQUATIONS: &str = r#"[equations]
P = "a0 + a1*m + a2*m^2 + a3*m*M + a4*P + a5*M + a6*P^2 + a7*P*M"
M = "a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P"
m = "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P)"
"#;

/// A spec of the actin template over `data` with the `[params]` table `params`.
fn kcl_spec(params: &str, data: &str) -> String {
    format!(
        "name = \"actin-kcl-random\"\nstates = [\"P\", \"M\", \"m\"]\nhidden = [\"P\", \"m\"]\n\
         [params]\n{params}\n{KCL_EQUATIONS}{data}"
    )
}

/// The issue's case: the true support of Table 5 fixed (a0, a5–a8 fixed at zero) and the shipped
/// spec's generic starts (zeros, a positive elongation rate a9), on random-time data. With six
/// starts around the spec's values (before the global stage) the issue measured such a fit
/// ending far from the optimum (a4 = −1.6e5, loss three times the truth-started one); here it
/// must reach the optimum of the fit started at the truth (within one χ² unit of its loss) with
/// every coefficient within 2.5 standard errors.
#[test]
fn actin_kcl_true_support_on_random_times_from_generic_starts() {
    let (dir, data) = actin_kcl_data("kcl-support", 10);
    let fixed = "a0 = { value = 0.0, fixed = true }\na5 = { value = 0.0, fixed = true }\n\
                 a6 = { value = 0.0, fixed = true }\na7 = { value = 0.0, fixed = true }\n\
                 a8 = { value = 0.0, fixed = true }\n";
    let generic = format!(
        "{fixed}a1 = {{ init = 0.0, sparse = false }}\na2 = {{ init = 0.0, sparse = false }}\n\
         a3 = {{ init = 0.0, sparse = false }}\na4 = {{ init = 0.0, sparse = false }}\n\
         a9 = {{ init = 1.0, min = 0.0, sparse = false }}\na10 = {{ init = 0.0, sparse = false }}\n"
    );
    let at_truth: String = KCL_TRUTH
        .iter()
        .map(|(k, v)| {
            let bound = if *k == "a9" { ", min = 0.0" } else { "" };
            format!("{k} = {{ init = {v}{bound}, sparse = false }}\n")
        })
        .collect::<String>()
        + fixed;
    let (spec, tables) = load(&dir, &kcl_spec(&generic, &data));
    let res = common::fit(&spec, &tables);
    let (spec_ref, _) = load(&dir, &kcl_spec(&at_truth, &data));
    let reference = common::fit(&spec_ref, &tables);
    eprintln!(
        "{:?}\nloss {} (truth-started {}), {:?} in {:.1} s",
        res.equations, res.loss, reference.loss, res.global, res.seconds
    );
    assert_recovered(&res, &KCL_TRUTH, &[]);
    assert_global(&res);
    let values: usize = tables
        .iter()
        .map(|t| t.values[1].iter().filter(|v| v.is_finite()).count())
        .sum();
    let chi2_unit = reference.loss / (values - KCL_TRUTH.len()) as f64;
    assert!(
        res.loss <= reference.loss + chi2_unit,
        "loss {} against the truth-started {} (one χ² unit {chi2_unit})",
        res.loss,
        reference.loss
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The full template (eleven candidates) from the shipped spec's generic starts on the same
/// kind of data: Table 5's support and every coefficient within 2.5 standard errors (met since
/// the eleventh session, where an L-BFGS start near its bound was no longer moved off the global
/// stage's minimum; benches/README.md, "Hidden states").
#[test]
fn actin_kcl_full_template_on_random_times_from_generic_starts() {
    let (dir, data) = actin_kcl_data("kcl-full", 10);
    let params = "a0 = 0.0\na1 = 0.0\na2 = 0.0\na3 = 0.0\na4 = 0.0\na5 = 0.0\na6 = 0.0\n\
                  a7 = 0.0\na8 = 0.0\na9 = { init = 1.0, min = 0.0 }\na10 = 0.0\n";
    let (spec, tables) = load(&dir, &kcl_spec(params, &data));
    let res = common::fit(&spec, &tables);
    eprintln!(
        "{:?}\n{:?} in {:.1} s",
        res.equations, res.global, res.seconds
    );
    assert_recovered(&res, &KCL_TRUTH, &["a0", "a5", "a6", "a7", "a8"]);
    assert_global(&res);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIR with only I observed and S's initial value fitted (20–25 samples at random times in
/// [0, 30], 1% noise), fitted with the `[params]` table `params`: the infection rate b is tied
/// across both equations; a0, a1 (births and deaths in S) and a2 (a saturating I term) are the
/// candidates the data should prune.
fn sir_fit(tag: &str, params: &str) -> (FitResult, usize) {
    let dir = scratch(tag);
    let mut rng = Rng::new(4);
    let times = random_times(&mut rng, 30.0, 20, 25);
    let table = generate(
        &["S", "I"],
        &["-1.0*S*I", "1.0*S*I - 0.2*I"],
        &[0.99, 0.01],
        &times,
        0.01,
        41,
    );
    write_csv(&dir.join("sir.csv"), &table, &[(1, "I")]);
    let text = format!(
        "name = \"sir-random\"\nstates = [\"S\", \"I\"]\nhidden = [\"S\"]\n[params]\n{params}\n\
         [equations]\nS = \"a0 - b*S*I + a1*S\"\nI = \"b*S*I - g*I + a2*I^2\"\n\
         [[data]]\nfile = \"sir.csv\"\ninitial = {{ S = \"fit\" }}\n"
    );
    let (spec, tables) = load(&dir, &text);
    let res = common::fit(&spec, &tables);
    eprintln!(
        "{tag}: {:?} S0 {:?}\n{:?} in {:.1} s",
        res.equations, res.fitted_initial, res.global, res.seconds
    );
    let _ = std::fs::remove_dir_all(&dir);
    (res, times.len() - 1)
}

/// The SIR template's terms outside the true support, fixed at zero.
const SIR_ZERO: &str = "a0 = { value = 0.0, fixed = true }\na1 = { value = 0.0, fixed = true }\n\
                        a2 = { value = 0.0, fixed = true }\n";

/// The SIR fit with the true support started at the truth (the reference of the tests).
fn sir_reference(tag: &str) -> FitResult {
    sir_fit(
        tag,
        &format!("b = {{ init = 1.0, min = 0.0 }}\ng = {{ init = 0.2, min = 0.0 }}\n{SIR_ZERO}"),
    )
    .0
}

fn fitted_s0(res: &FitResult) -> f64 {
    res.fitted_initial[0]
        .iter()
        .find(|(s, _)| s == "S")
        .expect("S(0) reported")
        .1
}

/// SIR with the true support (a0, a1, a2 fixed at zero) from rough positive rates reaches the
/// optimum of the fit started at the truth (within one χ² unit), b and g within 2.5 standard
/// errors and S(0) within 5%.
#[test]
fn sir_true_support_from_generic_starts() {
    let (res, values) = sir_fit(
        "sir-generic",
        &format!("b = {{ init = 0.5, min = 0.0 }}\ng = {{ init = 0.5, min = 0.0 }}\n{SIR_ZERO}"),
    );
    let reference = sir_reference("sir-truth");
    assert_recovered(&res, &[("b", 1.0), ("g", 0.2)], &["a0", "a1", "a2"]);
    assert_global(&res);
    let chi2_unit = reference.loss / (values - 3) as f64;
    assert!(
        res.loss <= reference.loss + chi2_unit,
        "loss {} against the truth-started {}",
        res.loss,
        reference.loss
    );
    let s0 = fitted_s0(&res);
    assert!((s0 - 0.99).abs() < 0.05, "S(0) = {s0}");
}

/// SIR's full template from rough positive rates: the support {b, g} and b, g within 2.5
/// standard errors. The BIC alone kept a constant a0 at 1.9 standard errors here (a term worth
/// 3.6 in χ², more than ln N = 3.1); the price per term among three candidates is 5.7.
#[test]
fn sir_full_template_from_generic_starts() {
    let (res, _) = sir_fit(
        "sir-full",
        "b = { init = 0.5, min = 0.0 }\ng = { init = 0.5, min = 0.0 }\na0 = 0.0\na1 = 0.0\na2 = 0.0\n",
    );
    assert_recovered(&res, &[("b", 1.0), ("g", 0.2)], &["a0", "a1", "a2"]);
    assert_global(&res);
}

/// SIR's full template (five candidate terms, so every support is refitted): the true support
/// {b, g} is among the scored candidates at the optimum of the fit started at the truth (within
/// one χ² unit), and the reported fit is the chosen candidate's: the final refit starts the
/// fitted S(0) where the candidate's refit left it (not where the global stage did), so its loss
/// is the candidate's.
#[test]
fn sir_full_template_scores_the_true_support_at_its_optimum() {
    let (res, values) = sir_fit(
        "sir-full-path",
        "b = { init = 0.5, min = 0.0 }\ng = { init = 0.5, min = 0.0 }\na0 = 0.0\na1 = 0.0\na2 = 0.0\n",
    );
    let reference = sir_reference("sir-full-truth");
    let chi2_unit = reference.loss / (values - 3) as f64;
    let index = |name: &str| {
        res.param_names
            .iter()
            .position(|n| n == name)
            .expect("parameter")
    };
    let truth: Vec<usize> = ["b", "g"].iter().map(|n| index(n)).collect();
    let others: Vec<usize> = ["a0", "a1", "a2"].iter().map(|n| index(n)).collect();
    let true_support = res.path.iter().filter(|p| {
        truth.iter().all(|&k| p.params[k] != 0.0) && others.iter().all(|&k| p.params[k] == 0.0)
    });
    let best = true_support
        .map(|p| p.train_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        best <= reference.loss + chi2_unit,
        "true support scored at best {best}, the truth-started fit {}",
        reference.loss
    );
    let chosen = res
        .path
        .iter()
        .find(|p| p.selected)
        .expect("a chosen candidate");
    assert!(
        (res.loss - chosen.train_loss).abs() <= chi2_unit,
        "final loss {} against the chosen candidate's {}",
        res.loss,
        chosen.train_loss
    );
}

/// SIR data (one realisation of the hidden-state benchmark: 22 random times, 1% noise, only I
/// observed) on which the global stage's dense minimum leads the sparsity path to the empty
/// model (every sparser candidate failed to integrate from its start): the search over every
/// support of the small template, each refitted from the dense fit's values, finds {b, g}, and
/// the stepwise search from it settles there.
#[test]
fn sir_full_template_recovered_where_the_path_ends_empty() {
    let dir = scratch("sir-empty-path");
    let data = "t,I\n\
         0,0.005705516044409733\n\
         0.1651,0.006915889687349365\n\
         2.0011,0.04961644051530502\n\
         3.5216,0.140518854260445\n\
         4.4805,0.2295335789270011\n\
         4.9402,0.2925215809648482\n\
         5.4111,0.34556830566229463\n\
         6.4301,0.43791702624179285\n\
         11.7422,0.30859111789703847\n\
         12.391,0.2743709747064303\n\
         12.6921,0.2572520437087895\n\
         13.7868,0.21500906050872218\n\
         14.5569,0.1953908447119943\n\
         15.0127,0.17454279403581952\n\
         15.7722,0.15883658717996427\n\
         17.8928,0.11102083757718237\n\
         19.9472,0.0710978634687673\n\
         22.74,0.040680810275224355\n\
         23.1751,0.04600982774642995\n\
         23.1873,0.029932866710865626\n\
         26.6611,0.018756174881454774\n\
         28.1511,0.015831287325569675\n";
    std::fs::write(dir.join("sir.csv"), data).expect("write data");
    let text = "name = \"sir-empty-path\"\nstates = [\"S\", \"I\"]\nhidden = [\"S\"]\n[params]\n\
                b = { init = 0.5, min = 0.0 }\ng = { init = 0.5, min = 0.0 }\na0 = 0.0\na1 = 0.0\n\
                a2 = 0.0\n[equations]\nS = \"a0 - b*S*I + a1*S\"\nI = \"b*S*I - g*I + a2*I^2\"\n\
                [[data]]\nfile = \"sir.csv\"\ninitial = { S = \"fit\" }\n";
    let (spec, tables) = load(&dir, text);
    let res = common::fit(&spec, &tables);
    let _ = std::fs::remove_dir_all(&dir);
    assert_recovered(&res, &[("b", 1.0), ("g", 0.2)], &["a0", "a1", "a2"]);
    assert_global(&res);
}

/// The MgCl₂ actin model on the shipped data: the scale of the hidden P is free (P → c·P with
/// a1, a3 × c and a9, a10 × 1/c fits as well), which the fit reports by name, with the ratio it
/// does determine, −a10/a9, within 5% of the truth (2.4958).
#[test]
fn mgcl2_reports_the_free_scale_of_p() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/actin-mgcl2-physical.toml");
    let spec = Spec::load(&path).unwrap_or_else(|d| panic!("{d:?}"));
    let tables = odenet_spec::load_tables(&spec).unwrap_or_else(|d| panic!("{d:?}"));
    let res = common::fit(&spec, &tables);
    let warning = res
        .warnings
        .iter()
        .find(|w| w.contains("scale of the hidden state P"))
        .unwrap_or_else(|| panic!("no warning on P's scale: {:?}", res.warnings));
    assert!(
        warning.contains("a1, a3 by c, a9, a10 by 1/c") && warning.contains("a10/a9 = "),
        "{warning}"
    );
    let ratio = -param(&res, "a10").0 / param(&res, "a9").0;
    assert!(
        (ratio / (29.7 / 11.9) - 1.0).abs() < 0.05,
        "-a10/a9 = {ratio}"
    );
    assert_global(&res);
}

/// The repressilator with the three mRNAs hidden (initial values fitted) and the proteins
/// observed at 35–40 random times in [0, 40] (about three periods, eleven samples per period),
/// 1% noise; the template of `benches/hidden/systems/repressilator.toml` from its generic starts
/// (a = 10, a Hill coefficient of 2, unit rates, the leak a0 at zero). The Hill term makes the
/// proteins' noisy readings near zero, and trial trajectories, dip below the domain of p^n;
/// single-shooting refits of a removal lose the oscillation's phase. Found: the support
/// {a, n, d, b} with every coefficient within 2.5 standard errors of the truth (α = 50, n = 3,
/// unit mRNA decay, β = 2) or of its twin: the proteins obey p'' + (b + d)p' + bd·p = ab·f, the
/// same for (a, d, b) and (ab/d, b, d) = (100, 2, 1), and with the mRNAs' initial values
/// fitted nothing tells the two apart (the hidden mRNA is p + p'/b in one, p + p'/d in the
/// other).
#[test]
fn repressilator_from_generic_starts() {
    let dir = scratch("repressilator");
    let mut rng = Rng::new(7);
    let times = random_times(&mut rng, 40.0, 35, 40);
    let table = generate(
        &["m1", "m2", "m3", "p1", "p2", "p3"],
        &[
            "50/(1 + p3^3) - m1",
            "50/(1 + p1^3) - m2",
            "50/(1 + p2^3) - m3",
            "2*(m1 - p1)",
            "2*(m2 - p2)",
            "2*(m3 - p3)",
        ],
        &[0.0, 0.0, 0.0, 5.0, 0.0, 0.0],
        &times,
        0.01,
        71,
    );
    write_csv(
        &dir.join("proteins.csv"),
        &table,
        &[(3, "p1"), (4, "p2"), (5, "p3")],
    );
    let text = "name = \"repressilator\"\nstates = [\"m1\", \"m2\", \"m3\", \"p1\", \"p2\", \"p3\"]\n\
                hidden = [\"m1\", \"m2\", \"m3\"]\n[params]\n\
                a = { init = 10.0, min = 0.0 }\nn = { init = 2.0, min = 0.5, max = 8.0 }\n\
                d = { init = 1.0, min = 0.0 }\nb = { init = 1.0, min = 0.0 }\na0 = 0.0\n\
                [equations]\nm1 = \"a0 + a/(1 + p3^n) - d*m1\"\n\
                m2 = \"a0 + a/(1 + p1^n) - d*m2\"\nm3 = \"a0 + a/(1 + p2^n) - d*m3\"\n\
                p1 = \"b*(m1 - p1)\"\np2 = \"b*(m2 - p2)\"\np3 = \"b*(m3 - p3)\"\n\
                [[data]]\nfile = \"proteins.csv\"\n\
                initial = { m1 = \"fit\", m2 = \"fit\", m3 = \"fit\" }\n";
    let (spec, tables) = load(&dir, text);
    let res = common::fit(&spec, &tables);
    eprintln!(
        "{:?}\n{:?} in {:.1} s",
        res.equations, res.global, res.seconds
    );
    let truth = if param(&res, "b").0 > param(&res, "d").0 {
        [("a", 50.0), ("n", 3.0), ("d", 1.0), ("b", 2.0)]
    } else {
        [("a", 100.0), ("n", 3.0), ("d", 2.0), ("b", 1.0)]
    };
    assert_recovered(&res, &truth, &["a0"]);
    assert_global(&res);
    let _ = std::fs::remove_dir_all(&dir);
}
