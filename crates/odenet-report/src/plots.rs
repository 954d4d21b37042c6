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

use std::error::Error;

use odenet_fit::{PathEntry, Trajectory};
use odenet_spec::Table;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
/// More data points than this per series are thinned (every k-th point), to keep the SVG small.
const MAX_POINTS: usize = 2500;
/// Values beyond this magnitude are treated as off-scale (a blown-up trajectory).
const HUGE: f64 = 1e100;

const FONT: &str = "sans-serif";
/// Categorical colours (Tableau 10), one per state.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const FIT_COLOR: RGBColor = RGBColor(30, 30, 30);
const WARN_COLOR: RGBColor = RGBColor(190, 30, 30);

fn color(k: usize) -> RGBColor {
    COLORS[k % COLORS.len()]
}

/// Data against the fitted trajectory for one experiment: one panel per state, the data as
/// points and the model as a line. Hidden states have no data; their panel shows the
/// trajectory only and is labelled "(hidden)".
pub fn data_vs_fit(table: &Table, traj: &Trajectory, states: &[String], hidden: &[bool]) -> String {
    let title = format!("Data vs fit: {}", file_label(table));
    let panels = states.len().max(1);
    let height = TITLE_HEIGHT + PANEL_HEIGHT * panels as u32;
    render(WIDTH, height, &title, |root| {
        let body = root.titled(&title, (FONT, 22))?;
        if states.is_empty() {
            return note(&body, "the model has no states");
        }
        let areas = body.split_evenly((panels, 1));
        for (k, (area, name)) in areas.iter().zip(states).enumerate() {
            let is_hidden = hidden.get(k).copied().unwrap_or(false);
            let data: Vec<(f64, f64)> = if is_hidden {
                vec![]
            } else {
                table_column(table, k)
            };
            let model = trajectory_column(traj, k, states.len());
            let caption = if is_hidden {
                format!("{name} (hidden)")
            } else {
                name.clone()
            };
            let failure = if k == 0 {
                traj.failure.as_deref()
            } else {
                None
            };
            time_panel(
                area,
                &caption,
                name,
                &data,
                &model,
                color(k),
                is_hidden,
                failure,
            )?;
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn time_panel(
    area: &Area,
    caption: &str,
    name: &str,
    data: &[(f64, f64)],
    model: &[(f64, f64)],
    col: RGBColor,
    hidden: bool,
    failure: Option<&str>,
) -> DrawResult {
    let xs = data.iter().chain(model).map(|p| p.0);
    let (x0, x1) = pad(extent(xs));
    let (y0, y1) = capped_range(data.iter().map(|p| p.1), model.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(8)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(38)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("t")
        .y_desc(name)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    let shown = thin(data);
    let mut keys = Vec::new();
    if !shown.is_empty() {
        let (r, dot) = dot_style(col, shown.len());
        chart.draw_series(shown.iter().map(|&p| Circle::new(p, r, dot)))?;
        keys.push((data_label(data.len(), shown.len()), Swatch::Dot(dot)));
    }
    let runs = clip_polyline(model, (x0, x1), (y0, y1));
    if !runs.is_empty() {
        let line = if hidden {
            col.stroke_width(2)
        } else {
            FIT_COLOR.stroke_width(2)
        };
        chart.draw_series(runs.into_iter().map(move |r| PathElement::new(r, line)))?;
        keys.push((
            if hidden { "fit (hidden)" } else { "fit" }.to_string(),
            Swatch::Line(line),
        ));
    }
    side_legend(area, chart.plotting_area().get_pixel_range(), &keys)?;
    let plot = chart.plotting_area().strip_coord_spec();
    if data.is_empty() && model.is_empty() {
        note(&plot, "no finite values to plot")?;
    }
    if let Some(f) = failure {
        plot.draw_text(
            &format!("integration stopped early: {f}"),
            &(FONT, 13).into_font().color(&WARN_COLOR),
            (8, 6),
        )?;
    }
    Ok(())
}

/// The phase portrait of the first two states: data points where both are observed and the
/// fitted trajectory as a line. `None` when the model has fewer than two states.
pub fn phase_portrait(
    table: &Table,
    traj: &Trajectory,
    states: &[String],
    hidden: &[bool],
) -> Option<String> {
    if states.len() < 2 {
        return None;
    }
    let n = states.len();
    let (sx, sy) = (&states[0], &states[1]);
    let hx = hidden.first().copied().unwrap_or(false);
    let hy = hidden.get(1).copied().unwrap_or(false);
    let axis = |s: &String, h: bool| {
        if h {
            format!("{s} (hidden)")
        } else {
            s.clone()
        }
    };
    let (ax, ay) = (axis(sx, hx), axis(sy, hy));
    let title = format!("Phase portrait {ay} vs {ax}: {}", file_label(table));
    let data: Vec<(f64, f64)> = if hx || hy {
        vec![]
    } else {
        let x = table.values.first().map(Vec::as_slice).unwrap_or(&[]);
        let y = table.values.get(1).map(Vec::as_slice).unwrap_or(&[]);
        x.iter()
            .zip(y)
            .map(|(&a, &b)| (a, b))
            .filter(|&(a, b)| finite_pt(a, b))
            .collect()
    };
    let rows = complete_rows(traj, n);
    let model: Vec<(f64, f64)> = (0..rows)
        .map(|r| (traj.states[r * n], traj.states[r * n + 1]))
        .collect();
    Some(render(WIDTH, 620, &title, |root| {
        let (x0, x1) = capped_range(data.iter().map(|p| p.0), model.iter().map(|p| p.0));
        let (y0, y1) = capped_range(data.iter().map(|p| p.1), model.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 20))
            .margin(12)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(42)
            .y_label_area_size(76)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(ax.as_str())
            .y_desc(ay.as_str())
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()?;
        let col = color(0);
        let shown = thin(&data);
        let mut keys = Vec::new();
        if !shown.is_empty() {
            let (r, dot) = dot_style(col, shown.len());
            chart.draw_series(shown.iter().map(|&p| Circle::new(p, r, dot)))?;
            keys.push((data_label(data.len(), shown.len()), Swatch::Dot(dot)));
        }
        let runs = clip_polyline(&model, (x0, x1), (y0, y1));
        if !runs.is_empty() {
            let line = FIT_COLOR.stroke_width(2);
            chart.draw_series(runs.into_iter().map(move |r| PathElement::new(r, line)))?;
            keys.push(("fit".to_string(), Swatch::Line(line)));
        }
        let start = model
            .iter()
            .copied()
            .find(|&(a, b)| inside((a, b), (x0, x1), (y0, y1)));
        if let Some(p) = start {
            let s = ShapeStyle::from(&WARN_COLOR).filled();
            chart.draw_series(std::iter::once(TriangleMarker::new(p, 7, s)))?;
            keys.push(("fit start".to_string(), Swatch::Triangle(s)));
        }
        if keys.is_empty() {
            note(
                &chart.plotting_area().strip_coord_spec(),
                "no finite values to plot",
            )?;
        }
        side_legend(root, chart.plotting_area().get_pixel_range(), &keys)
    }))
}

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
        chart
            .configure_mesh()
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
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
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
            chart
                .configure_mesh()
                .x_desc("active terms")
                .y_desc("coefficient / max |coefficient|")
                .y_label_formatter(&|v| fmt_num(if v.abs() < 1e-9 { 0.0 } else { *v }))
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .bold_line_style(BLACK.mix(0.12))
                .light_line_style(BLACK.mix(0.04))
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

/// A histogram of learned noise values (DESIGN.md "Noise"), with the normal density of the
/// same mean and standard deviation drawn over it for comparison. `label` names the values
/// (e.g. the state) in the title and on the x axis.
pub fn noise_histogram(values: &[f64], label: &str) -> String {
    let title = format!("Learned noise: {label}");
    render(WIDTH, 460, &title, |root| {
        let Hist {
            lo,
            hi,
            width,
            counts,
            n,
            mean,
            sd,
        } = Hist::of(values);
        let density = |x: f64| {
            let z = (x - mean) / sd;
            n as f64 * width * (-0.5 * z * z).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt())
        };
        let curve: Vec<(f64, f64)> = if sd > 0.0 && sd.is_finite() {
            (0..=200)
                .map(|i| lo + (hi - lo) * i as f64 / 200.0)
                .map(|x| (x, density(x)))
                .collect()
        } else {
            vec![]
        };
        let top = counts.iter().copied().max().unwrap_or(0) as f64;
        let top = curve
            .iter()
            .map(|p| p.1)
            .filter(|y| y.is_finite())
            .fold(top, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 20))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(lo..hi, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc(label)
            .y_desc("count")
            .x_label_formatter(&|x| fmt_num(*x))
            .y_label_formatter(&|y| fmt_num(*y))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()?;
        if n == 0 {
            return note(
                &chart.plotting_area().strip_coord_spec(),
                "no finite noise values",
            );
        }
        let col = color(0);
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, &c)| {
                        let x = lo + width * b as f64;
                        Rectangle::new([(x, 0.0), (x + width, c as f64)], col.mix(0.6).filled())
                    }),
            )?
            .label(format!("{n} values"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 20, y + 5)], col.mix(0.6).filled())
            });
        if !curve.is_empty() {
            let line = WARN_COLOR.stroke_width(2);
            chart
                .draw_series(LineSeries::new(curve, line))?
                .label(format!(
                    "normal (mean {}, sd {})",
                    fmt_num(mean),
                    fmt_num(sd)
                ))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
        }
        corner_legend(&mut chart, SeriesLabelPosition::UpperRight, 13)?;
        Ok(())
    })
}

/// Equal-width bins over the finite values (√n bins, 5 to 60), with their mean and sample
/// standard deviation.
#[derive(Debug)]
struct Hist {
    lo: f64,
    hi: f64,
    width: f64,
    counts: Vec<usize>,
    n: usize,
    mean: f64,
    sd: f64,
}

impl Hist {
    fn of(values: &[f64]) -> Hist {
        let v: Vec<f64> = values
            .iter()
            .copied()
            .filter(|x| x.is_finite() && x.abs() < HUGE)
            .collect();
        let n = v.len();
        let (lo, hi) = pad(extent(v.iter().copied()));
        let bins = ((n as f64).sqrt().ceil() as usize).clamp(5, 60);
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0usize; bins];
        for &x in &v {
            let b = (((x - lo) / width).max(0.0) as usize).min(bins - 1);
            counts[b] += 1;
        }
        let mean = if n > 0 {
            v.iter().sum::<f64>() / n as f64
        } else {
            0.0
        };
        let var = if n > 1 {
            v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Hist {
            lo,
            hi,
            width,
            counts,
            n,
            mean,
            sd: var.sqrt(),
        }
    }
}

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
        xml_escape(title),
        xml_escape(why)
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Draws plotters' series labels in a corner of the plotting area, in the style the plots share.
fn corner_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, font_size))
        .draw()?;
    Ok(())
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Dot(ShapeStyle),
    Line(ShapeStyle),
    Triangle(ShapeStyle),
}

/// A legend in the margin right of the plotting area (`plot`, in backend pixels), drawn on
/// `area`: a legend inside would hide data wherever it sits, and plotters' own legend is
/// clipped to the plotting area.
fn side_legend(
    area: &Area,
    plot: (std::ops::Range<i32>, std::ops::Range<i32>),
    keys: &[(String, Swatch)],
) -> DrawResult {
    let base = area.get_base_pixel();
    let x = plot.0.end - base.0 + 12;
    let text = (FONT, 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, swatch)) in keys.iter().enumerate() {
        let y = plot.1.start - base.1 + 12 + 20 * i as i32;
        match *swatch {
            Swatch::Dot(s) => area.draw(&Circle::new((x + 10, y), 3, s))?,
            Swatch::Line(s) => area.draw(&PathElement::new(vec![(x, y), (x + 20, y)], s))?,
            Swatch::Triangle(s) => area.draw(&TriangleMarker::new((x + 10, y), 5, s))?,
        }
        area.draw_text(label, &text, (x + 26, y))?;
    }
    Ok(())
}

/// A grey message centred in an area (an empty plot says why it is empty).
fn note(area: &Area, msg: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, 16)
        .into_font()
        .color(&BLACK.mix(0.6))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(msg, &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

fn file_label(table: &Table) -> String {
    table
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "experiment".into())
}

/// Data points: small and translucent when dense, larger when few so the line does not hide them.
fn dot_style(col: RGBColor, n: usize) -> (u32, ShapeStyle) {
    if n <= 200 {
        (4, col.mix(0.8).filled())
    } else {
        (2, col.mix(0.55).filled())
    }
}

fn data_label(total: usize, shown: usize) -> String {
    if shown < total {
        format!("data (1 in {})", total.div_ceil(shown))
    } else {
        "data".to_string()
    }
}

/// The observed (time, value) points of state `k`, finite ones only.
fn table_column(table: &Table, k: usize) -> Vec<(f64, f64)> {
    let col = table.values.get(k).map(Vec::as_slice).unwrap_or(&[]);
    table
        .times
        .iter()
        .zip(col)
        .map(|(&t, &v)| (t, v))
        .filter(|&(t, v)| finite_pt(t, v))
        .collect()
}

/// Rows of the trajectory with every state present (guards a short `states` vector).
fn complete_rows(traj: &Trajectory, n: usize) -> usize {
    traj.states
        .len()
        .checked_div(n)
        .map_or(0, |rows| rows.min(traj.times.len()))
}

/// The trajectory of state `k` as (time, value), non-finite values kept (they split the line).
fn trajectory_column(traj: &Trajectory, k: usize, n: usize) -> Vec<(f64, f64)> {
    (0..complete_rows(traj, n))
        .map(|r| (traj.times[r], traj.states[r * n + k]))
        .collect()
}

fn finite_pt(a: f64, b: f64) -> bool {
    a.is_finite() && b.is_finite() && a.abs() < HUGE && b.abs() < HUGE
}

fn inside(p: (f64, f64), (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> bool {
    p.0 >= x0 && p.0 <= x1 && p.1 >= y0 && p.1 <= y1
}

/// At most [`MAX_POINTS`] points: every k-th one.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let step = points.len().div_ceil(MAX_POINTS);
    points.iter().step_by(step).copied().collect()
}

/// The smallest and largest finite, non-huge value, if any.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite() && v.abs() < HUGE)
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// An axis range with room around the values: 5% each side, or ±10% of the value (±1 at 0)
/// when the values do not span a range; (0, 1) when there are none.
fn pad(ext: Option<(f64, f64)>) -> (f64, f64) {
    let Some((lo, hi)) = ext else {
        return (0.0, 1.0);
    };
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    if span > 1e-12 * scale && span > 0.0 {
        (lo - 0.05 * span, hi + 0.05 * span)
    } else {
        let mid = 0.5 * (lo + hi);
        let h = if mid.abs() < f64::MIN_POSITIVE {
            1.0
        } else {
            0.1 * mid.abs()
        };
        (mid - h, mid + h)
    }
}

/// The axis range for data and a model curve: the data's range, widened to show the model by
/// at most one data span on each side (a trajectory that blows up is cut at the edge); the
/// model's own range when there is no data.
fn capped_range(data: impl Iterator<Item = f64>, model: impl Iterator<Item = f64>) -> (f64, f64) {
    let d = extent(data);
    let m = extent(model);
    let ext = match (d, m) {
        (Some((dl, dh)), Some((ml, mh))) => {
            let span = (dh - dl).max(0.1 * dl.abs().max(dh.abs()));
            Some((dl.min(ml.max(dl - span)), dh.max(mh.min(dh + span))))
        }
        (d, None) => d,
        (None, m) => m,
    };
    pad(ext)
}

/// A positive range for a log axis: a quarter of a decade either side, or a decade when the
/// values are all equal; (1e-3, 1) when there are none.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let ext = values
        .filter(|v| v.is_finite() && *v > 0.0 && *v < HUGE && *v > 1.0 / HUGE)
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        });
    match ext {
        None => (1e-3, 1.0),
        Some((lo, hi)) if hi / lo < 1.5 => (lo / 3.0, hi * 3.0),
        Some((lo, hi)) => (lo / 1.5, hi * 1.5),
    }
}

/// A linear f64 axis whose ticks are given (plotters' `WithKeyPoints` cannot format labels).
struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.lo) / (self.hi - self.lo);
        if !r.is_finite() {
            return limit.0;
        }
        limit.0 + ((limit.1 - limit.0) as f64 * r).round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Tick positions (in log10 units) for a log axis over [l0, l1]: every mantissa 1..9 when the
/// axis spans at most two decades, 1, 2 and 5 up to six, powers of ten beyond (every k-th
/// when there are many).
fn log_ticks(l0: f64, l1: f64) -> Vec<f64> {
    if !(l0.is_finite() && l1.is_finite() && l1 > l0) {
        return vec![];
    }
    let decades = l1 - l0;
    let mantissas: &[f64] = if decades <= 2.0 {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    } else if decades <= 6.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let every = ((decades / 12.0).ceil() as i64).max(1);
    let (k0, k1) = (l0.floor() as i64, l1.ceil() as i64);
    let mut ticks = Vec::new();
    for k in (k0..=k1).filter(|k| k.rem_euclid(every) == 0) {
        for m in mantissas {
            let t = (*m).log10() + k as f64;
            if t >= l0 && t <= l1 {
                ticks.push(t);
            }
        }
    }
    ticks
}

/// Splits a polyline where it is not finite and clips every segment to the box (Liang–Barsky),
/// returning the visible runs.
fn clip_polyline(points: &[(f64, f64)], xr: (f64, f64), yr: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut flush = |cur: &mut Vec<(f64, f64)>| {
        if !cur.is_empty() {
            runs.push(std::mem::take(cur));
        }
    };
    let ok = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    // A one-point path draws nothing, so a lone sample becomes a short dash.
    if let [p] = points {
        if ok(p) && inside(*p, xr, yr) {
            let d = 0.002 * (xr.1 - xr.0);
            return vec![vec![(p.0 - d, p.1), (p.0 + d, p.1)]];
        }
        return vec![];
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !ok(&a) || !ok(&b) {
            flush(&mut cur);
            continue;
        }
        match clip_segment(a, b, xr, yr) {
            Some((p, q)) => {
                let joined = cur
                    .last()
                    .is_some_and(|l| (l.0 - p.0).abs() <= 0.0 && (l.1 - p.1).abs() <= 0.0);
                if !joined {
                    flush(&mut cur);
                    cur.push(p);
                }
                cur.push(q);
            }
            None => flush(&mut cur),
        }
    }
    flush(&mut cur);
    runs
}

fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p.abs() < f64::MIN_POSITIVE {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 || !t0.is_finite() || !t1.is_finite() {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    let (p, q) = (at(t0), at(t1));
    (p.0.is_finite() && p.1.is_finite() && q.0.is_finite() && q.1.is_finite()).then_some((p, q))
}

/// Axis numbers: plain with up to 4 decimals in [1e-3, 1e5), scientific otherwise.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < 1e-12 {
        "0".to_string()
    } else if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}

#[cfg(test)]
mod tests;
