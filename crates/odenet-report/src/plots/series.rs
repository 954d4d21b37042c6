//! The plots over the data: each experiment's data against the fitted trajectory (one panel
//! per state) and the phase portrait of the first two states.

use odenet_fit::Trajectory;
use odenet_spec::Table;
use plotters::prelude::*;

use super::axes::{capped_range, extent, fmt_num, pad};
use super::points::{
    clip_polyline, complete_rows, finite_pt, inside, table_column, thin, trajectory_column,
};
use super::style::{
    FIT_COLOR, FONT, Swatch, WARN_COLOR, color, data_label, dot_style, faint_grid, figure_mesh,
    file_label, note, side_legend,
};
use super::{Area, DrawResult, LEGEND_WIDTH, PANEL_HEIGHT, TITLE_HEIGHT, WIDTH, render};

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
    faint_grid(&mut chart.configure_mesh())
        .x_desc("t")
        .y_desc(name)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
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
        figure_mesh(&mut chart.configure_mesh())
            .x_desc(ax.as_str())
            .y_desc(ay.as_str())
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
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
