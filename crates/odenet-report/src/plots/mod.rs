//! SVG plots of a fit: data against the fitted trajectory per experiment, the phase portrait,
//! the sparsity path and the learned-noise histogram.
//!
//! Every function returns a complete SVG document as a string and never panics: the inputs
//! come from real data and real fits, so they may hold missing values (NaN), a failed
//! integration (NaN or huge values), a single point or a constant column. Non-finite values
//! are left out, lines are split where they stop being finite and clipped to the axes, axis
//! ranges are padded when they would be empty, and a plot with nothing to show says so
//! instead of failing. The axes follow the data: a fitted trajectory that runs away is cut at
//! the edge of the axes rather than shrinking the data to a flat line.
//!
//! Here: the sizes every plot shares and `render`, which turns a drawing into an SVG string
//! or a note that it failed. The figures: `series` (data against the fit, the phase portrait),
//! `path` (the sparsity and coefficient paths), `noise` (the noise histogram). Their helpers:
//! `points` prepares what is drawn (finite values, thinning, clipping), `axes` chooses ranges,
//! ticks and axis numbers, `style` holds the colours, fonts, legends and labels.

mod axes;
mod noise;
mod path;
mod points;
mod series;
mod style;
#[cfg(test)]
mod tests;

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::page::esc;

pub use noise::noise_histogram;
pub use path::{coefficient_path, sparsity_path};
pub use series::{data_vs_fit, phase_portrait};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn Error>>;

/// Width of every plot, in pixels.
const WIDTH: u32 = 820;
/// Height of one panel of a data-vs-fit plot.
const PANEL_HEIGHT: u32 = 240;
/// Height of the title band of a multi-panel plot.
const TITLE_HEIGHT: u32 = 44;
/// Room right of a data plot for its legend.
const LEGEND_WIDTH: u32 = 130;
/// Room right of the coefficient-path plot for its legend (term names are longer).
const COEF_LEGEND_WIDTH: u32 = 190;
/// Values beyond this magnitude are treated as off-scale (a blown-up trajectory).
const HUGE: f64 = 1e100;

/// Renders into a fresh SVG string. A drawing error (which sanitised inputs should never
/// cause) or a panic inside the plotting library yields a small SVG that says the plot
/// could not be drawn, so one bad plot never costs the user the rest of the report.
fn render(w: u32, h: u32, title: &str, draw: impl FnOnce(&Area) -> DrawResult) -> String {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut s = String::new();
        let result = {
            let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
            let r = root
                .fill(&WHITE)
                .map_err(Box::<dyn Error>::from)
                .and_then(|_| draw(&root));
            r.and_then(|_| root.present().map_err(Box::<dyn Error>::from))
        };
        result.map(|_| s).map_err(|e| e.to_string())
    }));
    match attempt {
        Ok(Ok(s)) if s.starts_with("<svg") => s,
        Ok(Err(e)) => fallback(w, title, &e),
        _ => fallback(w, title, "the plotting library failed"),
    }
}

fn fallback(w: u32, title: &str, why: &str) -> String {
    format!(
        "<svg width=\"{w}\" height=\"80\" viewBox=\"0 0 {w} 80\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <rect width=\"{w}\" height=\"80\" fill=\"#FFFFFF\"/>\n\
         <text x=\"12\" y=\"30\" font-family=\"sans-serif\" font-size=\"18\">{}</text>\n\
         <text x=\"12\" y=\"58\" font-family=\"sans-serif\" font-size=\"14\" fill=\"#BE1E1E\">this plot could not be drawn: {}</text>\n\
         </svg>\n",
        esc(title),
        esc(why)
    )
}
