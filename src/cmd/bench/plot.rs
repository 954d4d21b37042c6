//! The work–precision diagram of `--plot` as SVG.

use std::fmt::Write;

use odenet_solve::{Method, Reference};

use super::{Info, Row};

/// The work–precision diagram: error (log) against the median time per sweep (log), one line
/// per solver through its tolerances, each point labelled with its tolerance's exponent.
pub(super) fn plot_svg(rows: &[Row], methods: &[Method], info: &Info, r: &Reference) -> String {
    const W: f64 = 760.0;
    const H: f64 = 520.0;
    const L: f64 = 80.0;
    const R: f64 = 170.0;
    const T: f64 = 50.0;
    const B: f64 = 60.0;
    const COLORS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    ];
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|row| {
            let e = row.error?;
            (e > 0.0 && row.solve.median > 0.0).then_some((row.solve.median * 1e3, e))
        })
        .collect();
    let decade = |v: f64, up: bool| {
        if up {
            v.log10().ceil()
        } else {
            v.log10().floor()
        }
    };
    let (mut x0, mut x1, mut y0, mut y1) = (0.0, 1.0, -10.0, 0.0);
    if !pts.is_empty() {
        x0 = decade(pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min), false);
        x1 = decade(pts.iter().map(|p| p.0).fold(0.0, f64::max), true);
        y0 = decade(pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min), false);
        y1 = decade(pts.iter().map(|p| p.1).fold(0.0, f64::max), true);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let px = |ms: f64| L + (ms.log10() - x0) / (x1 - x0) * (W - L - R);
    let py = |e: f64| T + (y1 - e.log10()) / (y1 - y0) * (H - T - B);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let title = format!(
        "Work–precision: {} ({} {}{})",
        xml(&info.spec),
        info.pieces,
        if info.whole { "experiment" } else { "piece" },
        if info.pieces == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{title}</text>"#,
        (L + W - R) / 2.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="38" text-anchor="middle" fill="#555">reference: {} at rtol {:e}, checked by {} (they differ by {:.1e})</text>"##,
        (L + W - R) / 2.0,
        r.method.name(),
        r.rtol,
        r.check.name(),
        r.accuracy
    );
    // Grid and decade ticks.
    for k in (x0 as i32)..=(x1 as i32) {
        let x = px(10f64.powi(k));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">1e{k}</text>"##,
            H - B,
            H - B + 16.0
        );
    }
    for k in (y0 as i32)..=(y1 as i32) {
        let y = py(10f64.powi(k));
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">1e{k}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        W - L - R,
        H - T - B
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">time per sweep (ms, median of {}; one thread, no sensitivities)</text>"#,
        (L + W - R) / 2.0,
        H - 18.0,
        info.reps
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">error (relative to each state's size)</text>"#,
        (T + H - B) / 2.0
    );
    for (i, &m) in methods.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f64, f64, f64)> = rows
            .iter()
            .filter(|row| row.solver == m)
            .filter_map(|row| {
                let e = row.error?;
                (e > 0.0 && row.solve.median > 0.0 && row.failures == 0).then_some((
                    px(row.solve.median * 1e3),
                    py(e),
                    row.tol,
                ))
            })
            .collect();
        if line.len() > 1 {
            let d: Vec<String> = line
                .iter()
                .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                d.join(" ")
            );
        }
        for (x, y, tol) in &line {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"><title>{} tol {tol:e}</title></circle><text x="{:.1}" y="{:.1}" font-size="9" fill="{color}">{}</text>"#,
                m.name(),
                x + 5.0,
                y - 4.0,
                tol.log10().round()
            );
        }
        let ly = T + 10.0 + 20.0 * i as f64;
        let label = if line.is_empty() {
            format!("{} (failed)", m.name())
        } else {
            m.name().to_string()
        };
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            W - R + 12.0,
            W - R + 36.0,
            W - R + 42.0,
            ly + 4.0,
            label
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="10" fill="#555">labels: log10 tol</text>"##,
        W - R + 12.0,
        T + 10.0 + 20.0 * methods.len() as f64 + 6.0
    );
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
