//! What a scenario leaves in its results folder: a CSV, a PNG plot and its part of
//! `summary.md`.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use plotters::prelude::*;

/// The font plots use (Debian's fonts-dejavu-core); plots are drawn without text when it is
/// missing, and say so on standard error.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(|| match std::fs::read(FONT) {
        Ok(bytes) => {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        }
        Err(error) => {
            eprintln!(
                "cluster-bench: no font at {FONT} ({error}); plots carry no text (apt-get install fonts-dejavu-core)"
            );
            false
        }
    })
}

/// Writes `rows` under `header` as CSV (fields are numbers or identifiers without commas or
/// quotes; a field with either is quoted).
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|f| if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() })
            .collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// One line of a plot.
pub struct Series {
    /// Its legend.
    pub label: String,
    /// Its points, `(x, y)`.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of `series` into a PNG.
///
/// # Errors
///
/// Drawing or writing the file.
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> io::Result<()> {
    let text = register_font();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let y1 = ys.fold(0.0f64, f64::max);
        let (x0, x1) = if x0 < x1 { (x0, x1) } else { (0.0, 1.0) };
        let y1 = if y1 > 0.0 { y1 * 1.1 } else { 1.0 };
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20).x_label_area_size(40).y_label_area_size(60);
        if text {
            builder.caption(title, ("sans-serif", 24));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, 0.0..y1)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(x_label).y_desc(y_label);
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw()?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let drawn = chart.draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?;
            if text {
                drawn.label(s.label.clone()).legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| io::Error::other(format!("plot {}: {e}", path.display())))
}

/// A markdown table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}
