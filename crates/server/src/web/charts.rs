//! Charts drawn on the server as SVG (plotters' SVG backend), put inline in the page: no script, no
//! image request, readable without JavaScript. Text is laid out with plotters' built-in estimate (no
//! font files in the binary); the browser draws it in the page's sans-serif font.

use plotters::prelude::*;

/// A chart's size in SVG user units (it scales to the page's width).
const WIDTH: u32 = 640;
const HEIGHT: u32 = 240;
/// Labels drawn under the bars at most (every other one is skipped past it).
const X_LABELS_MAX: usize = 12;
/// The page's brand green (`app.css`), as the bars' colour.
const BAR: RGBColor = RGBColor(0x0a, 0x6e, 0x3f);

/// A bar per label, the bars' heights `values` (amounts in minor units, ≥ 0: integers all the way, no
/// float near money), the y axis titled `unit` with its ticks written by `tick` (exact decimals).
pub fn bars(labels: &[String], values: &[i64], unit: &str, tick: &dyn Fn(i64) -> String) -> Result<String, String> {
    assert_eq!(labels.len(), values.len(), "a value per label");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let highest = values.iter().copied().max().unwrap_or(0).max(1);
        let top = highest.saturating_add(highest / 10); // headroom above the highest bar
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d((0..labels.len()).into_segmented(), 0..top)
            .map_err(|e| e.to_string())?;
        let every = labels.len().div_ceil(X_LABELS_MAX).max(1);
        let label_of = |x: &SegmentValue<usize>| match x {
            SegmentValue::CenterOf(i) if i % every == 0 => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&label_of)
            .y_label_formatter(&|v: &i64| tick(*v))
            .y_desc(unit)
            .draw()
            .map_err(|e| e.to_string())?;
        let bars = values
            .iter()
            .enumerate()
            .map(|(i, v)| Rectangle::new([(SegmentValue::Exact(i), 0), (SegmentValue::Exact(i + 1), *v)], BAR.filled()));
        chart.draw_series(bars).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bar_chart_is_an_svg_with_a_bar_per_value_and_its_labels() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let mut values = vec![0; 24];
        values[9] = 12_050;
        values[12] = 8_000;
        let cny = money::Currency::from_code("CNY").unwrap();
        let svg = super::bars(&labels, &values, "CNY", &|minor| platform::wallet::decimal(minor, cny)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains("\n08\n") && !svg.contains("\n09\n") && svg.contains("\nCNY\n"),
            "every other hour labelled, and the unit: {svg}"
        );
        assert!(svg.matches("<rect").count() >= 24, "a bar per hour (and the background)");
        assert!(svg.contains("\n100.00\n"), "ticks as exact decimals: {svg}");
    }
}
