//! The roofline as a log-log PNG: the measured roofs (the better bandwidth's slope up to
//! the ridge, the FMA peak after it) and one labelled point per kernel that does arithmetic
//! (a kernel without FLOP has no place on a log intensity axis).

use std::path::Path;

use lepton::profile::Peaks;
use plotters::prelude::*;

use crate::cli::plot::register_font;

/// One kernel on the plot: its label, FLOP per byte and GFLOP/s.
pub struct Point {
    pub label: String,
    pub intensity: f64,
    pub gflops: f64,
}

pub fn draw(path: &Path, title: &str, peaks: &Peaks, points: &[Point]) -> anyhow::Result<()> {
    register_font();
    let points: Vec<&Point> = points
        .iter()
        .filter(|p| p.intensity > 0.0 && p.gflops > 0.0)
        .collect();
    let peak = peaks.flop_per_s / 1e9;
    let bandwidth = peaks.bytes_per_s() / 1e9;
    let ridge = peaks.ridge();
    let lowest_i = points.iter().map(|p| p.intensity).fold(ridge, f64::min);
    let highest_i = points.iter().map(|p| p.intensity).fold(ridge, f64::max);
    // Room on the right for the last point's label.
    let (x0, x1) = (lowest_i / 4.0, highest_i * 16.0);
    let lowest_g = points
        .iter()
        .map(|p| p.gflops)
        .fold(x0 * bandwidth, f64::min);
    let (y0, y1) = (lowest_g / 2.0, peak * 2.0);
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("arithmetic intensity (FLOP per byte)")
        .y_desc("GFLOP/s")
        .label_style(("sans-serif", 14))
        .draw()?;
    let roof = [(x0, x0 * bandwidth), (ridge, peak), (x1, peak)];
    chart
        .draw_series(LineSeries::new(roof, BLUE.stroke_width(3)))?
        .label(format!(
            "roof: {bandwidth:.1} GB/s, {peak:.1} GFLOP/s (ridge {ridge:.2} FLOP/byte)"
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(3)));
    for p in &points {
        chart.draw_series([Circle::new((p.intensity, p.gflops), 5, RED.filled())])?;
        chart.draw_series([Text::new(
            p.label.clone(),
            (p.intensity * 1.08, p.gflops),
            ("sans-serif", 12),
        )])?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
