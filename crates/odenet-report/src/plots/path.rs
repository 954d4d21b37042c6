//! The plots of the sparsity path: the training and held-out loss against the number of active
//! terms, and each coefficient along the path.

use odenet_fit::PathEntry;
use plotters::prelude::*;

use super::axes::{TickedAxis, fmt_num, log_range, log_ticks};
use super::style::{
    FONT, Swatch, WARN_COLOR, color, corner_legend, figure_mesh, note, side_legend,
};
use super::{COEF_LEGEND_WIDTH, LEGEND_WIDTH, WIDTH, render};

/// Training and held-out loss against the number of active terms along the sparsity path
/// (log loss axis), with the selected support ringed and the best held-out loss drawn as a
/// guide: the fit keeps a sparse support whose held-out loss is not distinguishably worse.
pub fn sparsity_path(path: &[PathEntry]) -> String {
    let title = "Sparsity path: loss against active terms";
    render(WIDTH, 480, title, |root| {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        let mut train: Vec<(i64, f64)> = path
            .iter()
            .filter(|p| pos(p.train_loss))
            .map(|p| (p.active_terms as i64, p.train_loss))
            .collect();
        let mut held: Vec<(i64, f64)> = path
            .iter()
            .filter(|p| pos(p.holdout_loss))
            .map(|p| (p.active_terms as i64, p.holdout_loss))
            .collect();
        train.sort_by_key(|p| p.0);
        held.sort_by_key(|p| p.0);
        let best = held.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let terms = path.iter().map(|p| p.active_terms as i64);
        let xmin = terms.clone().min().unwrap_or(0);
        let xmax = terms.max().unwrap_or(1).max(xmin + 1);
        let ys = train.iter().chain(&held).map(|p| p.1);
        let (y0, y1) = log_range(ys);
        // A linear axis over log10(loss) with ticks of our choosing: plotters' own log axis
        // labels only powers of ten, which a path spanning less than a decade may not contain.
        let (l0, l1) = (y0.log10(), y1.log10());
        let lg = |p: &(i64, f64)| (p.0, p.1.log10());
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(42)
            .y_label_area_size(84)
            .build_cartesian_2d(
                xmin - 1..xmax + 1,
                TickedAxis {
                    lo: l0,
                    hi: l1,
                    ticks: log_ticks(l0, l1),
                },
            )?;
        let span = (xmax - xmin + 2) as usize;
        figure_mesh(&mut chart.configure_mesh())
            .x_desc("active terms")
            .y_desc("loss (log scale)")
            .x_labels(span.min(16) + 1)
            .x_label_formatter(&|v| {
                if *v >= 0 {
                    v.to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| fmt_num(10f64.powf(*v)))
            .draw()?;
        if path.is_empty() || (train.is_empty() && held.is_empty()) {
            let msg = if path.is_empty() {
                "no sparsity path was recorded"
            } else {
                "no finite loss on the path"
            };
            return note(&chart.plotting_area().strip_coord_spec(), msg);
        }
        if pos(best) {
            let guide = BLACK.mix(0.4).stroke_width(1);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(xmin - 1, best.log10()), (xmax + 1, best.log10())],
                    guide,
                )))?
                .label("best held-out loss")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], guide));
        }
        for (series, name, col) in [
            (&train, "training loss", color(0)),
            (&held, "held-out loss", color(1)),
        ] {
            if series.is_empty() {
                continue;
            }
            let line = col.stroke_width(2);
            chart.draw_series(LineSeries::new(series.iter().map(lg), line))?;
            chart
                .draw_series(
                    series
                        .iter()
                        .map(lg)
                        .map(move |p| Circle::new(p, 4, col.filled())),
                )?
                .label(name)
                .legend(move |(x, y)| {
                    EmptyElement::at((x + 10, y))
                        + PathElement::new(vec![(-10, 0), (10, 0)], line)
                        + Circle::new((0, 0), 4, col.filled())
                });
        }
        // The chosen support ringed on the held-out curve, or on the training curve when
        // nothing was held out.
        let selected: Vec<(i64, f64)> = path
            .iter()
            .filter(|p| p.selected)
            .map(|p| {
                let y = if pos(p.holdout_loss) {
                    p.holdout_loss
                } else {
                    p.train_loss
                };
                (p.active_terms as i64, y)
            })
            .filter(|p| pos(p.1))
            .collect();
        if let Some(&(k, _)) = selected.first() {
            let ring = ShapeStyle::from(&WARN_COLOR).stroke_width(3);
            chart
                .draw_series(
                    selected
                        .iter()
                        .map(lg)
                        .map(move |p| Circle::new(p, 10, ring)),
                )?
                .label(format!("selected: {k} terms"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 6, ring));
        }
        corner_legend(&mut chart, SeriesLabelPosition::UpperRight, 13)?;
        Ok(())
    })
}

/// Coefficient paths: each parameter's value after the debiased refit of every support on the
/// path, against the number of active terms, divided by its largest magnitude along the path
/// (so terms of very different sizes share one axis). The ten largest are named in the legend.
pub fn coefficient_path(path: &[PathEntry], names: &[String]) -> String {
    let title = "Coefficient paths (each divided by its largest magnitude)";
    // The legend sits in a margin right of the plot: inside, it covered the upper left, where
    // the chosen model's largest coefficients are drawn.
    render(
        WIDTH + COEF_LEGEND_WIDTH - LEGEND_WIDTH,
        480,
        title,
        |root| {
            let mut entries: Vec<&PathEntry> = path
                .iter()
                .filter(|p| p.params.len() == names.len())
                .collect();
            entries.sort_by_key(|p| p.active_terms);
            let terms = entries.iter().map(|p| p.active_terms as i64);
            let xmin = terms.clone().min().unwrap_or(0);
            let xmax = terms.max().unwrap_or(1).max(xmin + 1);
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FONT, 20))
                .margin(12)
                .margin_right(COEF_LEGEND_WIDTH)
                .x_label_area_size(42)
                .y_label_area_size(60)
                .build_cartesian_2d(xmin - 1..xmax + 1, -1.1f64..1.1f64)?;
            figure_mesh(&mut chart.configure_mesh())
                .x_desc("active terms")
                .y_desc("coefficient / max |coefficient|")
                .y_label_formatter(&|v| fmt_num(if v.abs() < 1e-9 { 0.0 } else { *v }))
                .draw()?;
            if entries.is_empty() {
                return note(
                    &chart.plotting_area().strip_coord_spec(),
                    "no coefficient path was recorded",
                );
            }
            // Parameters that are non-zero somewhere, largest magnitude (at the sparsest entry where
            // they are non-zero) first.
            let mut series: Vec<(usize, f64)> = (0..names.len())
                .filter_map(|k| {
                    let m = entries
                        .iter()
                        .map(|p| p.params[k].abs())
                        .filter(|v| v.is_finite())
                        .fold(0.0, f64::max);
                    (m > 0.0).then_some((k, m))
                })
                .collect();
            let last_nonzero = |k: usize| {
                entries
                    .iter()
                    .filter(|p| p.params[k] != 0.0)
                    .map(|p| p.active_terms)
                    .min()
                    .unwrap_or(usize::MAX)
            };
            series.sort_by(|a, b| {
                last_nonzero(a.0)
                    .cmp(&last_nonzero(b.0))
                    .then(b.1.total_cmp(&a.1))
            });
            let mut keys = Vec::new();
            for (rank, &(k, m)) in series.iter().enumerate() {
                let pts: Vec<(i64, f64)> = entries
                    .iter()
                    .filter(|p| p.params[k].is_finite())
                    .map(|p| (p.active_terms as i64, p.params[k] / m))
                    .collect();
                let col = if rank < 10 {
                    color(rank)
                } else {
                    RGBColor(170, 170, 170)
                };
                let line = col.stroke_width(if rank < 10 { 2 } else { 1 });
                chart.draw_series(LineSeries::new(pts.iter().copied(), line))?;
                if rank < 10 {
                    keys.push((names[k].clone(), Swatch::Line(line)));
                }
            }
            if let Some(sel) = entries.iter().find(|p| p.selected) {
                let x = sel.active_terms as i64;
                let guide = ShapeStyle::from(&WARN_COLOR).stroke_width(1);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, -1.1), (x, 1.1)],
                    guide,
                )))?;
                keys.push((format!("selected: {x} terms"), Swatch::Line(guide)));
            }
            side_legend(root, chart.plotting_area().get_pixel_range(), &keys)?;
            Ok(())
        },
    )
}
