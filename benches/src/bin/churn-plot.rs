//! `churn-plot OUT.svg REPORT.json...`: the server's memory over time in each churn report
//! (`sio-harness churn --json`), one line per report, as an SVG chart.

use std::path::PathBuf;

use plotters::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Report {
    target: String,
    mode: String,
    rate: u32,
    duration_s: f64,
    samples: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    t_s: f64,
    rss_kib: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args
        .next()
        .ok_or("usage: churn-plot OUT.svg REPORT.json...")?;
    let mut reports = Vec::new();
    for path in args {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a churn report: {e}", path.display()))?;
        reports.push(report);
    }
    let last_t = reports
        .iter()
        .flat_map(|r| r.samples.last().map(|s| s.t_s))
        .fold(1.0, f64::max);
    let top_mib = reports
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.rss_kib as f64 / 1024.0))
        .fold(1.0, f64::max)
        * 1.1;
    let title = reports.first().map_or_else(String::new, |r| {
        format!(
            "server RSS under churn: {} connections/s for {:.0} s, then idle",
            r.rate, r.duration_s
        )
    });
    let root = SVGBackend::new(&out, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last_t, 0.0..top_mib)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("RSS (MiB)")
        .draw()?;
    for (index, report) in reports.iter().enumerate() {
        let colour = Palette99::pick(index).stroke_width(2);
        let points = report
            .samples
            .iter()
            .map(|s| (s.t_s, s.rss_kib as f64 / 1024.0));
        chart
            .draw_series(LineSeries::new(points, colour))?
            .label(format!("{} {}", report.target, report.mode))
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 20, y)],
                    Palette99::pick(index).stroke_width(2),
                )
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
