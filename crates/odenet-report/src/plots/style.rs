//! The look the plots share: colours, fonts, grid lines, data-point styles, legends, centred
//! notes and the labels made from the data.

use odenet_spec::Table;
use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, DrawResult};

pub(super) const FONT: &str = "sans-serif";
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
pub(super) const FIT_COLOR: RGBColor = RGBColor(30, 30, 30);
pub(super) const WARN_COLOR: RGBColor = RGBColor(190, 30, 30);

pub(super) fn color(k: usize) -> RGBColor {
    COLORS[k % COLORS.len()]
}

/// Faint grid lines, as every plot draws them.
pub(super) fn faint_grid<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
}

/// The mesh of a whole-figure plot: faint grid lines, axis numbers at 14 px and axis
/// descriptions at 15 px (the panels of a data-vs-fit plot keep plotters' smaller defaults).
pub(super) fn figure_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    faint_grid(mesh.label_style((FONT, 14)).axis_desc_style((FONT, 15)))
}

/// Draws plotters' series labels in a corner of the plotting area, in the style the plots share.
pub(super) fn corner_legend<'a, CT: CoordTranslate>(
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
pub(super) enum Swatch {
    Dot(ShapeStyle),
    Line(ShapeStyle),
    Triangle(ShapeStyle),
}

/// A legend in the margin right of the plotting area (`plot`, in backend pixels), drawn on
/// `area`: a legend inside would hide data wherever it sits, and plotters' own legend is
/// clipped to the plotting area.
pub(super) fn side_legend(
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
pub(super) fn note(area: &Area, msg: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, 16)
        .into_font()
        .color(&BLACK.mix(0.6))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(msg, &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

pub(super) fn file_label(table: &Table) -> String {
    table
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "experiment".into())
}

/// Data points: small and translucent when dense, larger when few so the line does not hide them.
pub(super) fn dot_style(col: RGBColor, n: usize) -> (u32, ShapeStyle) {
    if n <= 200 {
        (4, col.mix(0.8).filled())
    } else {
        (2, col.mix(0.55).filled())
    }
}

pub(super) fn data_label(total: usize, shown: usize) -> String {
    if shown < total {
        format!("data (1 in {})", total.div_ceil(shown))
    } else {
        "data".to_string()
    }
}
