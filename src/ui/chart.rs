//! Line charts as plain SVG (no chart library in the bundle). Each chart carries a text
//! summary for screen readers and as a caption.

use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const PAD: f64 = 6.0;

/// One line: a name for the legend, a CSS class for its colour, and its values (`None` is a
/// gap, e.g. a minute without requests).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

/// SVG polyline points for `values` scaled into the chart between `low` and `high`; gaps
/// split the line into segments.
fn segments(values: &[Option<f64>], low: f64, high: f64) -> Vec<String> {
    let span = (high - low).max(f64::EPSILON);
    let step = if values.len() > 1 {
        WIDTH / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let x = i as f64 * step;
                let y = HEIGHT - PAD - (v - low) / span * (HEIGHT - 2.0 * PAD);
                current.push(format!("{x:.1},{y:.1}"));
            }
            None if !current.is_empty() => segments.push(std::mem::take(&mut current).join(" ")),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current.join(" "));
    }
    segments
}

/// A chart of one or more lines sharing one scale (which always includes 0).
#[component]
pub fn LineChart(
    lines: Vec<Line>,
    /// What the chart shows, for its caption and accessible name.
    summary: String,
    #[prop(optional)] testid: &'static str,
) -> impl IntoView {
    let all = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten().copied());
    let (low, high) = all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let high = if high == low { low + 1.0 } else { high };
    let legend = lines.len() > 1;
    let drawn = lines
        .iter()
        .flat_map(|line| {
            segments(&line.values, low, high)
                .into_iter()
                .map(move |points| {
                    // A lone point is drawn as a dot so it shows at all.
                    let dot = !points.contains(' ');
                    view! {
                        <polyline
                            class=line.class
                            points=if dot { format!("{points} {points}") } else { points }
                            fill="none"
                            stroke="currentColor"
                            stroke-width=if dot { "6" } else { "2" }
                            stroke-linecap="round"
                        ></polyline>
                    }
                })
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid=(!testid.is_empty()).then_some(testid)>
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=summary.clone()
                preserveAspectRatio="none"
            >
                {drawn}
            </svg>
            <figcaption class="muted">
                {legend
                    .then(|| {
                        lines
                            .iter()
                            .map(|l| view! { <span class=format!("legend {}", l.class)>{l.name.clone()}</span> })
                            .collect_view()
                    })}
                {summary}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_lines_and_values_scale_into_the_chart() {
        let parts = segments(&[Some(0.0), Some(10.0), None, Some(5.0)], 0.0, 10.0);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            format!("0.0,{:.1} 200.0,{:.1}", HEIGHT - PAD, PAD)
        );
        assert_eq!(parts[1], format!("600.0,{:.1}", HEIGHT / 2.0));
        assert!(segments(&[None, None], 0.0, 1.0).is_empty());
    }
}
