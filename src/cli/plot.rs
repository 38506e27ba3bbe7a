//! Loss and accuracy curves as a PNG, with an embedded font (no system fonts needed).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::cli::train::EpochRecord;

pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; registering it cannot fail for a valid TTF.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    (title, x_axis): (&str, &str),
    series: &[Series],
) -> anyhow::Result<()> {
    let points = series.iter().flat_map(|s| s.2.iter());
    let (mut lo, mut hi) = points
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.1), h.max(p.1))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let last = points.map(|p| p.0).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..last.max(1.0 + 1e-9), (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc(x_axis)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    for (name, color, data) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Lines against one x axis in one panel: success rates against episodes (Q-learning),
/// returns against environment steps (DQN).
pub fn lines(
    path: &Path,
    (title, x_axis): (&str, &str),
    series: &[(&str, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (700, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let colors = [BLUE, RED];
    let series: Vec<Series> = series
        .iter()
        .zip(colors.iter().cycle())
        .map(|((name, points), &color)| (*name, color, points.clone()))
        .collect();
    panel(&root, (title, x_axis), &series)?;
    root.present()?;
    Ok(())
}

/// Loss (and accuracy) curves of `history` against its `x_axis` (epochs, or steps), the
/// held-out set's curve named `held_out`.
pub fn curves(
    path: &Path,
    family: &str,
    (x_axis, held_out): (&str, &str),
    history: &[EpochRecord],
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let series = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let losses = [
        ("train", BLUE, series(&|r| Some(r.train.loss))),
        (held_out, RED, series(&|r| Some(r.test.loss))),
    ];
    let accuracy = [
        (
            "train",
            BLUE,
            series(&|r| r.train.accuracy.map(|a| 100.0 * a)),
        ),
        (
            held_out,
            RED,
            series(&|r| r.test.accuracy.map(|a| 100.0 * a)),
        ),
    ];
    if accuracy[0].2.is_empty() {
        panel(&root, (&format!("{family}: loss"), x_axis), &losses)?;
    } else {
        let (left, right) = root.split_horizontally(550);
        panel(&left, (&format!("{family}: loss"), x_axis), &losses)?;
        panel(
            &right,
            (&format!("{family}: accuracy (%)"), x_axis),
            &accuracy,
        )?;
    }
    root.present()?;
    Ok(())
}

/// Points [n × 2] as dots over `centers`, the target's modes drawn as rings.
pub fn scatter(
    path: &Path,
    title: &str,
    points: &[f32],
    centers: &[(f64, f64)],
    radius: f64,
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (560, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-3.0..3.0, -3.0..3.0)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(
        points
            .chunks(2)
            .map(|p| Circle::new((p[0] as f64, p[1] as f64), 1, BLUE.mix(0.4).filled())),
    )?;
    chart.draw_series(centers.iter().map(|&(x, y)| {
        let ring = (0..=32).map(|k| {
            let a = k as f64 * std::f64::consts::TAU / 32.0;
            (x + radius * a.cos(), y + radius * a.sin())
        });
        PathElement::new(ring.collect::<Vec<_>>(), RED.stroke_width(1))
    }))?;
    root.present()?;
    Ok(())
}
