//! The histogram of learned noise values with the matching normal density drawn over it.

use plotters::prelude::*;

use super::axes::{extent, fmt_num, pad};
use super::style::{FONT, WARN_COLOR, color, corner_legend, figure_mesh, note};
use super::{HUGE, WIDTH, render};

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
        figure_mesh(&mut chart.configure_mesh())
            .x_desc(label)
            .y_desc("count")
            .x_label_formatter(&|x| fmt_num(*x))
            .y_label_formatter(&|y| fmt_num(*y))
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
pub(super) struct Hist {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) width: f64,
    pub(super) counts: Vec<usize>,
    pub(super) n: usize,
    pub(super) mean: f64,
    pub(super) sd: f64,
}

impl Hist {
    pub(super) fn of(values: &[f64]) -> Hist {
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
