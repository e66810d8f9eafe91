//! `storm-plot OUT.svg REPORT.json...`: reconnect storms (`sio-harness storm --json`) as an SVG
//! chart: on the left, the share of clients back over time after the loss; on the right, the
//! distribution of per-client reconnect latency. One line per report's first round.

use std::path::PathBuf;

use plotters::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Report {
    target: String,
    clients: usize,
    spread_ms: u64,
    cause: String,
    rounds: Vec<Round>,
}

#[derive(Deserialize)]
struct Round {
    back_curve_ms: Vec<f64>,
    latency_quantiles_ms: Vec<f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args
        .next()
        .ok_or("usage: storm-plot OUT.svg REPORT.json...")?;
    let mut lines = Vec::new();
    for path in args {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a storm report: {e}", path.display()))?;
        let round = report
            .rounds
            .into_iter()
            .next()
            .ok_or_else(|| format!("{} has no round", path.display()))?;
        let label = format!(
            "{}, {} clients, {}{}",
            report.target,
            report.clients,
            report.cause,
            match report.spread_ms {
                0 => " all at once".to_owned(),
                ms => format!(" spread {ms} ms"),
            }
        );
        lines.push((label, round));
    }
    let longest = lines
        .iter()
        .flat_map(|(_, r)| r.back_curve_ms.last().copied())
        .fold(1.0, f64::max)
        * 1.05;
    let slowest = lines
        .iter()
        .flat_map(|(_, r)| r.latency_quantiles_ms.last().copied())
        .fold(1.0, f64::max)
        * 1.05;

    let root = SVGBackend::new(&out, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);

    let mut back = ChartBuilder::on(&left)
        .caption("clients back after the loss", ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..longest, 0.0..100.0)?;
    back.configure_mesh()
        .x_desc("ms since the loss")
        .y_desc("% of clients back")
        .draw()?;
    for (index, (label, round)) in lines.iter().enumerate() {
        let points = round
            .back_curve_ms
            .iter()
            .enumerate()
            .map(|(percent, ms)| (*ms, percent as f64));
        back.draw_series(LineSeries::new(points, colour(index)))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour(index)));
    }
    back.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;

    let mut latency = ChartBuilder::on(&right)
        .caption(
            "reconnect latency (attempt to re-subscribed)",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..100.0, 0.0..slowest)?;
    latency
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .draw()?;
    for (index, (_, round)) in lines.iter().enumerate() {
        let points = round
            .latency_quantiles_ms
            .iter()
            .enumerate()
            .map(|(percent, ms)| (percent as f64, *ms));
        latency.draw_series(LineSeries::new(points, colour(index)))?;
    }
    root.present()?;
    Ok(())
}

fn colour(index: usize) -> ShapeStyle {
    Palette99::pick(index).stroke_width(2)
}
