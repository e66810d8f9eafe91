//! `churn-plot OUT.svg REPORT.json...`: the server's memory over time in each churn report
//! (`sio-harness churn --json`), one line per report, as an SVG chart; below it the server's
//! open files, when the reports have them (a soak's leak shows in one or the other).

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
    #[serde(default)]
    open_files: Option<u64>,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

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
    let with_files = reports
        .iter()
        .any(|r| r.samples.iter().any(|s| s.open_files.is_some()));
    let title = reports.first().map_or_else(String::new, |r| {
        format!(
            "server under churn: {} connections/s for {:.0} s, then idle",
            r.rate, r.duration_s
        )
    });
    let height = if with_files { 900 } else { 540 };
    let root: Area = SVGBackend::new(&out, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&title, ("sans-serif", 20))?;
    if with_files {
        let (top, bottom) = root.split_vertically(height / 2 - 20);
        panel(&top, &reports, "RSS (MiB)", |s| {
            Some(s.rss_kib as f64 / 1024.0)
        })?;
        panel(&bottom, &reports, "open files", |s| {
            s.open_files.map(|n| n as f64)
        })?;
    } else {
        panel(&root, &reports, "RSS (MiB)", |s| {
            Some(s.rss_kib as f64 / 1024.0)
        })?;
    }
    root.present()?;
    Ok(())
}

/// One chart: `value` of every sample over time, a line per report.
fn panel(
    area: &Area<'_>,
    reports: &[Report],
    y_desc: &str,
    value: fn(&Sample) -> Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let last_t = reports
        .iter()
        .flat_map(|r| r.samples.last().map(|s| s.t_s))
        .fold(1.0, f64::max);
    let top = reports
        .iter()
        .flat_map(|r| r.samples.iter().filter_map(value))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last_t, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .draw()?;
    for (index, report) in reports.iter().enumerate() {
        let colour = Palette99::pick(index).stroke_width(2);
        let points = report
            .samples
            .iter()
            .filter_map(|s| Some((s.t_s, value(s)?)));
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
    Ok(())
}
