//! The report's index page: one self-contained HTML file (inline style, no scripts, no
//! external assets) that shows the discovered equations, the fitted numbers, the sparsity
//! path and the plots written next to it.

use std::fmt::Write;

use odenet_fit::FitResult;

use crate::export::{
    Precision, fit_equations, format_se, format_to_se, mathml_equation, without_zero_terms,
};

/// A plot shown on the page: the SVG's file name relative to the page, and its title.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotRef {
    pub file: String,
    pub title: String,
}

impl PlotRef {
    pub fn new(file: impl Into<String>, title: impl Into<String>) -> PlotRef {
        PlotRef {
            file: file.into(),
            title: title.into(),
        }
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace}\
.eq{font-family:ui-monospace,monospace;font-size:1.05em}\
.warn{color:#a00;font-weight:bold}.ok{color:#060}tr.sel{background:#fff3d6}\
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555}\
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}\
table.math td{border:none;padding:.35em .8em}math{font-size:1.15em}";

/// Code shown in the page's "Export" section: a title (e.g. "Python") and the code.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeBlock {
    pub title: String,
    pub code: String,
}

/// The index page for a fit. `plots` are shown in order; `summary_text` is the printed
/// summary (`summary::fit_summary`), kept on the page as plain text. Every string that comes
/// from the user (names, equations, file names, titles) is HTML-escaped.
pub fn index(res: &FitResult, plots: &[PlotRef], summary_text: &str) -> String {
    index_with(res, plots, summary_text, &[], &[])
}

/// The index page with an "Export" section showing `exports` (`odenet export` output).
/// The equations are typeset as MathML that odenet writes itself, so the page needs no script
/// and no network. `template` (template models: the spec's equations, one per state) typesets
/// the equations with their parameters as names, the values in the table below them; without
/// it, the fitted equations are shown with their numbers.
pub fn index_with(
    res: &FitResult,
    plots: &[PlotRef],
    summary_text: &str,
    exports: &[CodeBlock],
    template: &[odenet_spec::Expr],
) -> String {
    let mut h = String::new();
    let name = esc(&res.name);
    let _ = writeln!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    );
    let _ = writeln!(
        h,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    );
    let _ = writeln!(
        h,
        "<title>odenet report: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    );
    let _ = writeln!(h, "<h1>{name}</h1>");
    if res.converged {
        let _ = writeln!(h, "<p class=\"ok\">The fit converged.</p>");
    } else {
        let _ = writeln!(
            h,
            "<p class=\"warn\">The fit did not converge; the best model so far is shown.</p>"
        );
    }

    let shown = fit_equations(res, Precision::StandardError);
    let typeset_from = if !res.library && template.len() == res.states.len() {
        let zero: Vec<&str> = res
            .param_names
            .iter()
            .zip(&res.params)
            .filter(|(_, v)| **v == 0.0)
            .map(|(n, _)| n.as_str())
            .collect();
        template
            .iter()
            .map(|e| Some(without_zero_terms(e, &zero)))
            .collect()
    } else {
        shown.clone()
    };
    let _ = writeln!(h, "<h2>Discovered equations</h2>\n<table class=\"math\">");
    for (k, (s, eq)) in res.states.iter().zip(&res.equations).enumerate() {
        let hidden = if res.hidden.get(k).copied().unwrap_or(false) {
            " <em>(hidden)</em>"
        } else {
            ""
        };
        let typeset = match typeset_from.get(k).and_then(Option::as_ref) {
            Some(e) => mathml_equation(s, e),
            None => format!("<span class=\"eq\">d{}/dt = {}</span>", esc(s), esc(eq)),
        };
        let _ = writeln!(h, "<tr><td>{typeset}</td><td>{hidden}</td></tr>");
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(
        h,
        "<details><summary>as text</summary><pre>{}</pre></details>",
        res.states
            .iter()
            .zip(&res.equations)
            .enumerate()
            .map(|(k, (s, eq))| {
                let text = shown
                    .get(k)
                    .and_then(Option::as_ref)
                    .map_or_else(|| eq.clone(), |e| e.to_string());
                format!("d{}/dt = {}", esc(s), esc(&text))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !res.library && template.len() == res.states.len() {
        let _ = writeln!(
            h,
            "<p><small>With the fitted parameters below (tied parameters are one name); the \
             text form has their values substituted.</small></p>"
        );
    } else if res.library {
        let _ = writeln!(
            h,
            "<p><small>Coefficients are rounded to the digits their standard errors support; the \
             model file keeps every digit.</small></p>"
        );
    }

    if let Some(terms) = &res.terms {
        let _ = writeln!(
            h,
            "<h2>Terms</h2>\n<table>\n<tr><th>equation</th><th>term</th><th>coefficient</th><th>standard error</th></tr>"
        );
        for (s, ts) in res.states.iter().zip(terms) {
            if ts.is_empty() {
                let _ = writeln!(
                    h,
                    "<tr><td>d{}/dt</td><td colspan=\"3\"><em>no term</em></td></tr>",
                    esc(s)
                );
            }
            for (t, v) in ts {
                let _ = writeln!(
                    h,
                    "<tr><td>d{}/dt</td><td class=\"eq\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(s),
                    esc(t),
                    rounded(res, res.term_param(s, t), *v),
                    std_error(res, res.term_param(s, t))
                );
            }
        }
        let _ = writeln!(h, "</table>");
    } else if !res.param_names.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Parameters</h2>\n<table>\n<tr><th>parameter</th><th>value</th><th>standard error</th></tr>"
        );
        for (k, (n, v)) in res.param_names.iter().zip(&res.params).enumerate() {
            let _ = writeln!(
                h,
                "<tr><td class=\"eq\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(n),
                rounded(res, Some(k), *v),
                std_error(res, Some(k))
            );
        }
        let _ = writeln!(h, "</table>");
    }

    for w in &res.warnings {
        let _ = writeln!(h, "<p><strong>warning:</strong> {}</p>", esc(w));
    }
    for r in &res.relations {
        let _ = writeln!(
            h,
            "<p>Relation among the states: {} (the library was reduced by one of its states).</p>",
            esc(r)
        );
    }
    if let Some(w) = &res.weak_direction {
        let _ = writeln!(
            h,
            "<p><strong>{}</strong></p>",
            esc(&crate::summary::weak_direction_text(res, w))
        );
    }

    let _ = writeln!(h, "<h2>Fit</h2>\n<table>");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><th>{k}</th><td class=\"num\">{v}</td></tr>");
    };
    row("loss", sci(res.loss));
    row("active terms", res.active_terms.to_string());
    row("free parameters", res.free_params.to_string());
    row(
        "pieces",
        format!("{} ({} held out)", res.pieces, res.holdout_pieces),
    );
    row("pieces integrated with BDF", res.bdf_pieces.to_string());
    row(
        "solver failures",
        format!(
            "{} while fitting, {} with the final model",
            res.failures_during_fit, res.failures
        ),
    );
    if let Some(g) = res.global {
        row(
            "starts of the global search at the best loss (within one &chi;&sup2; unit)",
            format!("{} of {}", g.at_best, g.starts),
        );
    }
    if let Some(c) = res.chained {
        row(
            "coefficients from the pieces chained into whole trajectories (ties; &chi;&sup2; \
             they cost, at most accepted)",
            format!(
                "{} pieces ({}; {:.1}, {:.1})",
                c.intervals, c.ties, c.excess, c.allowed
            ),
        );
    }
    row("time", format!("{:.3} s", res.seconds));
    let _ = writeln!(h, "</table>");

    if !res.path.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Candidates</h2>\n<p>Each support met on the way, refitted and scored; the \
             highlighted one was kept: {}.</p>",
            esc(&res.selection)
        );
        let _ = writeln!(
            h,
            "<table>\n<tr><th></th><th>active terms</th><th>training loss</th><th>held-out loss</th>\
             <th>score</th><th>&mu;</th><th>&gamma;</th></tr>"
        );
        for p in &res.path {
            let (cls, mark) = if p.selected {
                (" class=\"sel\"", "&#9733;")
            } else {
                ("", "")
            };
            let _ = writeln!(
                h,
                "<tr{cls}><td>{mark}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr>",
                p.active_terms,
                sci(p.train_loss),
                sci(p.holdout_loss),
                sci(p.score),
                short(p.mu),
                short(p.gamma)
            );
        }
        let _ = writeln!(h, "</table>");
    }

    if !plots.is_empty() {
        let _ = writeln!(h, "<h2>Plots</h2>");
        for p in plots {
            let (f, t) = (esc(&p.file), esc(&p.title));
            let _ = writeln!(
                h,
                "<figure><a href=\"{f}\"><img src=\"{f}\" alt=\"{t}\"></a><figcaption>{t}</figcaption></figure>"
            );
        }
    }

    if !exports.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Export</h2>\n<p>The discovered system as code (<code>odenet export MODEL --to \
             latex|python|sympy|julia|rust|c</code> writes these and more).</p>"
        );
        for b in exports {
            let _ = writeln!(
                h,
                "<h3>{}</h3>\n<pre><code>{}</code></pre>",
                esc(&b.title),
                esc(b.code.trim_end())
            );
        }
    }

    let _ = writeln!(
        h,
        "<h2>Printed summary</h2>\n<pre>{}</pre>\n<p><small>Written by odenet {}.</small></p>\n</body>\n</html>",
        esc(summary_text.trim_end()),
        env!("CARGO_PKG_VERSION")
    );
    h
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A coefficient rounded to the digits its standard error supports (full precision when it
/// has none).
fn rounded(res: &FitResult, k: Option<usize>, v: f64) -> String {
    if !v.is_finite() {
        return "&mdash;".to_string();
    }
    let se = k
        .and_then(|k| res.std_errors.get(k).copied())
        .unwrap_or(f64::NAN);
    format_to_se(v, se)
}

/// The standard error of parameter `k`: blank when it was not estimated (fixed or pruned),
/// "not determined" when the data leave it free.
fn std_error(res: &FitResult, k: Option<usize>) -> String {
    match k.and_then(|k| res.std_errors.get(k)) {
        Some(v) if v.is_finite() => format_se(*v),
        Some(v) if v.is_infinite() => "not determined".to_string(),
        _ => String::new(),
    }
}

/// A setting such as μ or γ: 3 significant digits, 0 as "0".
fn short(v: f64) -> String {
    if !v.is_finite() {
        "&mdash;".to_string()
    } else if v.abs() < f64::MIN_POSITIVE {
        "0".to_string()
    } else {
        format!("{v:.2e}")
    }
}

fn sci(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6e}")
    } else {
        "&mdash;".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odenet_fit::PathEntry;

    pub(crate) fn result() -> FitResult {
        FitResult {
            name: "lv <a&b>".into(),
            states: vec!["x".into(), "y\"".into()],
            hidden: vec![false, true],
            param_names: vec!["dx/dt[x]".into(), "dy\"/dt[x*y\"]".into()],
            params: vec![1.5, -0.25],
            library: true,
            terms: Some(vec![vec![("x".into(), 1.5)], vec![("x*y\"".into(), -0.25)]]),
            equations: vec!["1.5*x".into(), "-0.25*x*y < 3 & 4".into()],
            loss: 1.25e-4,
            active_terms: 2,
            free_params: 12,
            path: vec![
                PathEntry {
                    mu: 1e-3,
                    gamma: 1e-4,
                    active_terms: 12,
                    sparse_terms: 12,
                    train_loss: 1.0e-4,
                    holdout_loss: 1.1e-4,
                    score: f64::NAN,
                    selected: false,
                    params: vec![],
                },
                PathEntry {
                    mu: 1e-5,
                    gamma: 1e-3,
                    active_terms: 2,
                    sparse_terms: 2,
                    train_loss: 1.02e-4,
                    holdout_loss: f64::NAN,
                    score: f64::NAN,
                    selected: true,
                    params: vec![],
                },
            ],
            seconds: 0.5,
            converged: false,
            failures: 0,
            failures_during_fit: 3,
            pieces: 100,
            holdout_pieces: 20,
            bdf_pieces: 0,
            time_scale: 1.0,
            state_scales: vec![1.0, 1.0],
            trajectories: vec![],
            noise: None,
            fitted_initial: vec![],
            std_errors: vec![0.1, f64::NAN],
            weak_direction: None,
            ..FitResult::default()
        }
    }

    /// The global stage's confidence figure is printed, shown on the page and written to the
    /// model file, which still loads; a file without it (older, or a fit without a global stage)
    /// loads too.
    #[test]
    fn global_search_figure_is_printed_and_written() {
        let mut res = result();
        res.library = false;
        res.terms = None;
        res.global = Some(odenet_fit::GlobalSearch {
            starts: 17,
            at_best: 5,
        });
        let text = crate::summary::fit_summary(&res);
        assert!(
            text.contains("global search: 5 of 17 starts reached the best loss"),
            "{text}"
        );
        let html = index(&res, &[], &text);
        assert!(html.contains("<td class=\"num\">5 of 17</td>"), "{html}");
        let file = crate::model_file::to_json(&res, &[]);
        let json: serde_json::Value = serde_json::from_str(&file).expect("json");
        assert_eq!(json["fit"]["starts"], 17);
        assert_eq!(json["fit"]["starts_at_best"], 5);
        let with = crate::model_file::ModelFile::parse(&file).expect("loads with the figure");
        res.global = None;
        let older = crate::model_file::to_json(&res, &[]);
        let json: serde_json::Value = serde_json::from_str(&older).expect("json");
        assert!(json["fit"].get("starts").is_none());
        let without = crate::model_file::ModelFile::parse(&older).expect("loads without it");
        // (Debug text: a NaN standard error is not equal to itself.)
        assert_eq!(format!("{with:?}"), format!("{without:?}"));
        assert!(!crate::summary::fit_summary(&res).contains("global search"));
    }

    /// A chained refit is printed, shown on the page and written to the model file, which
    /// still loads; a fit without one says nothing of it.
    #[test]
    fn chained_pieces_are_printed_and_written() {
        let mut res = result();
        res.chained = Some(odenet_fit::Chaining {
            intervals: 25,
            ties: 72,
            excess: 73.56,
            allowed: 108.0,
        });
        let text = crate::summary::fit_summary(&res);
        assert!(
            text.contains("coefficients from the 25 pieces chained into whole trajectories")
                && text.contains("the 72 ties cost 73.6 in χ²"),
            "{text}"
        );
        let html = index(&res, &[], &text);
        assert!(html.contains("25 pieces (72; 73.6, 108.0)"), "{html}");
        let file = crate::model_file::to_json(&res, &[]);
        let json: serde_json::Value = serde_json::from_str(&file).expect("json");
        assert_eq!(json["fit"]["chained"]["ties"], 72);
        crate::model_file::ModelFile::parse(&file).expect("loads with the chained figures");
        res.chained = None;
        let file = crate::model_file::to_json(&res, &[]);
        let json: serde_json::Value = serde_json::from_str(&file).expect("json");
        assert!(json["fit"].get("chained").is_none());
        assert!(!crate::summary::fit_summary(&res).contains("chained"));
    }

    #[test]
    fn page_and_summary_name_an_undetermined_combination() {
        let mut res = result();
        res.weak_direction = Some(odenet_fit::WeakDirection {
            exponents: vec![(0, 1.0), (1, -0.5)],
            log_se: 12.5,
        });
        let text = crate::summary::fit_summary(&res);
        assert!(
            text.contains("multiplying dx/dt[x] by c, dy\"/dt[x*y\"] by c^-0.5")
                && text.contains("±12.50"),
            "{text}"
        );
        let html = index(&res, &[], &text);
        assert!(html.contains("<p><strong>warning: the data do not determine"));
        let json: serde_json::Value =
            serde_json::from_str(&crate::model_file::to_json(&res, &[])).expect("json");
        assert_eq!(json["weak_direction"]["exponents"]["dx/dt[x]"], 1.0);
        assert_eq!(json["weak_direction"]["log_se"], 12.5);
    }

    #[test]
    fn page_shows_every_plot_and_escaped_equations() {
        let res = result();
        let plots = vec![
            PlotRef::new("fit-1.svg", "Experiment 1: a<b>.csv"),
            PlotRef::new("phase-1.svg", "Phase portrait"),
            PlotRef::new("path.svg", "Sparsity path"),
        ];
        let html = index(&res, &plots, "summary with <tags> & stuff\n");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.trim_end().ends_with("</html>"));
        for p in &plots {
            assert!(
                html.contains(&format!("<img src=\"{}\"", p.file)),
                "{}",
                p.file
            );
        }
        assert!(html.contains("Experiment 1: a&lt;b&gt;.csv"));
        assert!(html.contains("<h1>lv &lt;a&amp;b&gt;</h1>"));
        assert!(html.contains("= 1.5*x"));
        assert!(html.contains("= -0.25*x*y &lt; 3 &amp; 4"));
        assert!(html.contains("dy&quot;/dt"));
        assert!(html.contains("(hidden)"));
        assert!(html.contains("summary with &lt;tags&gt; &amp; stuff"));
        assert!(html.contains("did not converge"));
        assert!(html.contains("class=\"sel\""));
        // Nothing user-provided arrives raw, and the page loads nothing from elsewhere.
        assert!(!html.contains("<a&b>") && !html.contains("<tags>") && !html.contains("< 3"));
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("<script")
        );
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn template_mode_lists_parameters_and_no_plots_is_fine() {
        let mut res = result();
        res.library = false;
        res.terms = None;
        res.converged = true;
        res.path.clear();
        let html = index(&res, &[], "");
        assert!(html.contains("<h2>Parameters</h2>"));
        assert!(html.contains("dy&quot;/dt[x*y&quot;]"));
        assert!(html.contains("-0.25"));
        assert!(
            html.contains("<th>standard error</th>")
                && html.contains("<td class=\"num\">0.10</td>")
        );
        assert!(!html.contains("<h2>Plots</h2>") && !html.contains("<h2>Sparsity path</h2>"));
        assert!(html.contains("The fit converged."));
    }

    #[test]
    fn equations_are_typeset_and_the_export_code_is_shown() {
        let mut res = result();
        res.states = vec!["x".into(), "y".into()];
        let html = index(&res, &[], "");
        // Library mode: the rounded terms as MathML (1.5 ± 0.1 keeps two decimals).
        assert!(
            html.contains("<mn>1.5</mn><mo>&#x2062;</mo><mi>x</mi>"),
            "{html}"
        );
        res.library = false;
        res.terms = None;
        let template = [
            odenet_spec::parse_expr("a1*x - a2*x*y").expect("parse"),
            odenet_spec::parse_expr("-a1*y").expect("parse"),
        ];
        let code = CodeBlock {
            title: "Python".into(),
            code: "def rhs(t, x, p):  # <x> & y\n".into(),
        };
        let html = index_with(&res, &[], "", &[code], &template);
        assert!(
            html.contains("<msub><mi>a</mi><mn>2</mn></msub>"),
            "parameters typeset by name: {html}"
        );
        assert!(html.contains("<h2>Export</h2>") && html.contains("<h3>Python</h3>"));
        assert!(html.contains("def rhs(t, x, p):  # &lt;x&gt; &amp; y"));
        assert!(!html.contains("<x>"));
    }

    #[test]
    fn escape_covers_attribute_quotes() {
        assert_eq!(esc("a\"b'c<d>&"), "a&quot;b&#39;c&lt;d&gt;&amp;");
    }
}
