//! Grids of small grayscale images as a PNG: rows of square images with a label each, as
//! a generative model's reconstructions and samples are shown.

use std::path::Path;

use plotters::prelude::*;

/// Screen pixels per image pixel, and the gaps around images and rows.
const SCALE: u32 = 6;
const GAP: u32 = 6;
const LABEL: u32 = 150;

/// Draw `rows`, each a label and images of `side` × `side` values in [0, 1] (1 drawn
/// black), one after another.
pub fn grid(path: &Path, side: usize, rows: &[(&str, Vec<f32>)]) -> anyhow::Result<()> {
    crate::cli::plot::register_font();
    let area = side * side;
    let per_row = rows.iter().map(|r| r.1.len() / area).max().unwrap_or(0) as u32;
    let cell = side as u32 * SCALE + GAP;
    let width = LABEL + per_row * cell + GAP;
    let height = rows.len() as u32 * cell + GAP;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    for (r, (label, values)) in rows.iter().enumerate() {
        let top = GAP + r as u32 * cell;
        root.draw(&Text::new(
            label.to_string(),
            (GAP as i32, (top + cell / 2 - 8) as i32),
            ("sans-serif", 15),
        ))?;
        for (k, image) in values.chunks(area).enumerate() {
            let left = LABEL + k as u32 * cell;
            for (p, &v) in image.iter().enumerate() {
                let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
                let (x, y) = (
                    (left + (p % side) as u32 * SCALE) as i32,
                    (top + (p / side) as u32 * SCALE) as i32,
                );
                root.draw(&Rectangle::new(
                    [(x, y), (x + SCALE as i32, y + SCALE as i32)],
                    RGBColor(shade, shade, shade).filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
