use std::path::PathBuf;

use odenet_fit::rng::Rng;
use odenet_fit::{PathEntry, Trajectory};
use odenet_spec::Table;

use super::axes::{capped_range, fmt_num, log_range, log_ticks, pad};
use super::noise::Hist;
use super::points::{MAX_POINTS, clip_polyline};
use super::*;

/// Checks that `svg` is one well-formed SVG document: a single `<svg>` root, every tag
/// closed in order, no raw `<` or stray `&` in text, and no non-finite number anywhere.
fn assert_svg(svg: &str) {
    assert!(
        svg.starts_with("<svg"),
        "does not start with <svg: {}",
        &svg[..svg.len().min(80)]
    );
    assert!(svg.trim_end().ends_with("</svg>"), "not closed");
    assert!(!svg.contains("NaN"), "NaN in the SVG");
    assert!(
        !svg.contains("=\"inf") && !svg.contains("=\"-inf") && !svg.contains("\ninf\n"),
        "inf in the SVG"
    );
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_text(text);
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("closing {name} with nothing open"));
            assert_eq!(top, name.trim(), "mismatched closing tag");
        } else if !tag.starts_with('?') && !tag.starts_with('!') && !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(name);
        } else if stack.is_empty() && !tag.starts_with('?') && !tag.starts_with('!') {
            roots += 1;
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    assert_eq!(roots, 1, "more than one root element");
}

fn check_text(text: &str) {
    let mut rest = text;
    while let Some(a) = rest.find('&') {
        let semi = rest[a..].find(';').expect("bare '&' in text") + a;
        let ent = &rest[a + 1..semi];
        assert!(
            ["lt", "gt", "amp", "quot", "apos"].contains(&ent) || ent.starts_with('#'),
            "unknown entity &{ent};"
        );
        rest = &rest[semi + 1..];
    }
}

fn table(file: &str, times: Vec<f64>, values: Vec<Vec<f64>>) -> Table {
    Table {
        file: PathBuf::from(format!("/data/{file}")),
        times,
        values,
    }
}

/// A Lotka–Volterra-like pair of oscillations: data (with the second state hidden when
/// asked) and the matching trajectory.
fn lv(n: usize, hidden_second: bool) -> (Table, Trajectory) {
    let times: Vec<f64> = (0..n).map(|i| i as f64 * 0.1).collect();
    let x: Vec<f64> = times.iter().map(|t| 20.0 + 8.0 * t.sin()).collect();
    let y: Vec<f64> = times.iter().map(|t| 30.0 + 10.0 * t.cos()).collect();
    let states: Vec<f64> = x
        .iter()
        .zip(&y)
        .flat_map(|(a, b)| [a + 0.1, b - 0.1])
        .collect();
    let y_data = if hidden_second { vec![f64::NAN; n] } else { y };
    (
        table("lv.csv", times.clone(), vec![x, y_data]),
        Trajectory {
            times,
            states,
            failure: None,
        },
    )
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|k| format!("x{k}")).collect()
}

#[test]
fn data_vs_fit_has_a_panel_per_state_with_data_and_fit() {
    let (t, tr) = lv(200, false);
    let svg = data_vs_fit(&t, &tr, &names(2), &[false, false]);
    assert_svg(&svg);
    assert!(svg.contains("Data vs fit: lv.csv"));
    for s in ["x1", "x2", "\ndata\n", "\nfit\n", "\nt\n"] {
        assert!(svg.contains(s), "missing {s}");
    }
    assert!(
        svg.matches("<circle").count() >= 400,
        "every data point drawn"
    );
    assert!(!svg.contains("hidden"));
}

#[test]
fn hidden_states_are_drawn_from_the_trajectory_and_labelled() {
    let (t, tr) = lv(50, true);
    let svg = data_vs_fit(&t, &tr, &names(2), &[false, true]);
    assert_svg(&svg);
    assert!(svg.contains("x2 (hidden)"));
    assert!(svg.contains("fit (hidden)"));
}

#[test]
fn long_series_are_thinned_and_say_so() {
    let (t, tr) = lv(5000, false);
    let svg = data_vs_fit(&t, &tr, &names(2), &[false, false]);
    assert_svg(&svg);
    assert!(svg.contains("data (1 in 2)"));
    assert!(svg.matches("<circle").count() < 2 * MAX_POINTS + 10);
}

#[test]
fn odd_inputs_never_break_a_plot() {
    let empty_traj = Trajectory {
        times: vec![],
        states: vec![],
        failure: None,
    };
    let nan = f64::NAN;
    let cases: Vec<(&str, Table, Trajectory)> = vec![
        (
            "empty table",
            table("e.csv", vec![], vec![vec![], vec![]]),
            empty_traj.clone(),
        ),
        (
            "all-NaN column",
            table(
                "n.csv",
                vec![0.0, 1.0, 2.0],
                vec![vec![1.0, 2.0, 3.0], vec![nan, nan, nan]],
            ),
            Trajectory {
                times: vec![0.0, 1.0, 2.0],
                states: vec![1.0, nan, 2.0, nan, 3.0, nan],
                failure: None,
            },
        ),
        (
            "failed trajectory",
            table(
                "f.csv",
                vec![0.0, 1.0, 2.0, 3.0],
                vec![vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 1.0, 1.0, 1.0]],
            ),
            Trajectory {
                times: vec![0.0, 1.0, 2.0, 3.0],
                states: vec![
                    1.0,
                    1.0,
                    1e300,
                    f64::INFINITY,
                    nan,
                    nan,
                    f64::NEG_INFINITY,
                    1e-300,
                ],
                failure: Some("step size too small at t = 1.5 <stiff>".into()),
            },
        ),
        (
            "single point",
            table("s.csv", vec![3.0], vec![vec![5.0], vec![-2.0]]),
            Trajectory {
                times: vec![3.0],
                states: vec![5.0, -2.0],
                failure: None,
            },
        ),
        (
            "zero ranges",
            table(
                "z.csv",
                vec![1.0, 1.0],
                vec![vec![0.0, 0.0], vec![7.0, 7.0]],
            ),
            Trajectory {
                times: vec![1.0, 1.0],
                states: vec![0.0, 7.0, 0.0, 7.0],
                failure: None,
            },
        ),
        (
            "short vectors",
            table("v.csv", vec![0.0, 1.0, 2.0], vec![vec![1.0]]),
            Trajectory {
                times: vec![0.0, 1.0, 2.0],
                states: vec![1.0, 2.0, 3.0],
                failure: None,
            },
        ),
        (
            "runaway fit",
            table(
                "r.csv",
                (0..20).map(f64::from).collect(),
                vec![vec![1.0; 20], vec![2.0; 20]],
            ),
            Trajectory {
                times: (0..20).map(f64::from).collect(),
                states: (0..40).map(|i| 1.0 + 10f64.powi(i / 2)).collect(),
                failure: None,
            },
        ),
    ];
    for (what, t, tr) in &cases {
        for hidden in [[false, false], [false, true], [true, true]] {
            let svg = data_vs_fit(t, tr, &names(2), &hidden);
            assert_svg(&svg);
            assert!(!svg.contains("could not be drawn"), "{what}: fell back");
            let svg = phase_portrait(t, tr, &names(2), &hidden).expect("two states");
            assert_svg(&svg);
            assert!(
                !svg.contains("could not be drawn"),
                "{what}: phase portrait fell back"
            );
        }
        assert_svg(&data_vs_fit(t, tr, &names(1), &[false]));
        assert_svg(&data_vs_fit(t, tr, &names(3), &[]));
    }
    let svg = data_vs_fit(&cases[0].1, &empty_traj, &names(2), &[false, false]);
    assert!(svg.contains("no finite values to plot"));
    let svg = data_vs_fit(&cases[2].1, &cases[2].2, &names(2), &[false, false]);
    assert!(
        svg.contains("integration stopped early: step size too small at t = 1.5 &lt;stiff&gt;")
    );
    let svg = data_vs_fit(&cases[0].1, &empty_traj, &[], &[]);
    assert_svg(&svg);
    assert!(svg.contains("the model has no states"));
}

#[test]
fn phase_portrait_needs_two_states() {
    let (t, tr) = lv(100, false);
    assert!(phase_portrait(&t, &tr, &names(1), &[false]).is_none());
    assert!(phase_portrait(&t, &tr, &[], &[]).is_none());
    let svg = phase_portrait(&t, &tr, &names(2), &[false, false]).expect("two states");
    assert_svg(&svg);
    for s in [
        "Phase portrait x2 vs x1: lv.csv",
        "\ndata\n",
        "\nfit\n",
        "fit start",
    ] {
        assert!(svg.contains(s), "missing {s}");
    }
    let svg = phase_portrait(&t, &tr, &names(2), &[false, true]).expect("two states");
    assert!(svg.contains("x2 (hidden)") && !svg.contains("\ndata\n"));
}

fn entry(active: usize, train: f64, holdout: f64, selected: bool) -> PathEntry {
    PathEntry {
        mu: 1e-3,
        gamma: 1e-3,
        active_terms: active,
        sparse_terms: active,
        train_loss: train,
        holdout_loss: holdout,
        score: f64::NAN,
        selected,
        params: vec![],
    }
}

#[test]
fn sparsity_path_marks_the_selected_support() {
    let path = vec![
        entry(12, 8.64e-5, 8.78e-5, false),
        entry(4, 8.65e-5, 8.77e-5, true),
        entry(3, 1.13e-4, 1.17e-4, false),
        entry(0, 1.53e-4, 1.54e-4, false),
    ];
    let svg = sparsity_path(&path);
    assert_svg(&svg);
    for s in [
        "Sparsity path",
        "training loss",
        "held-out loss",
        "selected: 4 terms",
        "best held-out loss",
        "active terms",
    ] {
        assert!(svg.contains(s), "missing {s}");
    }
}

#[test]
fn sparsity_path_odd_inputs() {
    let svg = sparsity_path(&[]);
    assert_svg(&svg);
    assert!(svg.contains("no sparsity path was recorded"));
    let svg = sparsity_path(&[
        entry(2, f64::NAN, f64::INFINITY, true),
        entry(1, 0.0, -1.0, false),
    ]);
    assert_svg(&svg);
    assert!(svg.contains("no finite loss on the path"));
    for path in [
        vec![entry(3, 1e-4, 1e-4, true)],
        vec![entry(3, 1e-4, 1e-4, true), entry(3, 1e-4, 1e-4, false)],
        vec![
            entry(0, 1e-300, 1e300, true),
            entry(1000, f64::NAN, 2.0, false),
        ],
        vec![entry(5, 1.0, f64::NAN, true), entry(2, 2.0, 3.0, false)],
    ] {
        let svg = sparsity_path(&path);
        assert_svg(&svg);
        assert!(!svg.contains("could not be drawn"), "{path:?}");
    }
}

#[test]
fn noise_histogram_of_normal_samples() {
    let mut rng = Rng::new(7);
    let v: Vec<f64> = (0..4000).map(|_| 0.5 + 0.02 * rng.normal()).collect();
    let h = Hist::of(&v);
    assert_eq!(h.counts.iter().sum::<usize>(), 4000);
    assert_eq!(h.counts.len(), 60);
    assert!((h.mean - 0.5).abs() < 0.002, "mean {}", h.mean);
    assert!((h.sd - 0.02).abs() < 0.001, "sd {}", h.sd);
    // Bell-shaped: the fullest bin is near the mean and the outer bins are nearly empty.
    let top = (0..h.counts.len())
        .max_by_key(|&b| h.counts[b])
        .unwrap_or(0);
    let centre = h.lo + h.width * (top as f64 + 0.5);
    assert!((centre - 0.5).abs() < 0.015, "mode {centre}");
    assert!(h.counts[0] + h.counts[59] < 10);
    let svg = noise_histogram(&v, "e(x1) <noise>");
    assert_svg(&svg);
    for s in [
        "Learned noise: e(x1) &lt;noise&gt;",
        "4000 values",
        "normal (mean ",
        "count",
    ] {
        assert!(svg.contains(s), "missing {s}");
    }
    assert!(svg.matches("<rect").count() > 30);
}

#[test]
fn noise_histogram_odd_inputs() {
    let svg = noise_histogram(&[], "x");
    assert_svg(&svg);
    assert!(svg.contains("no finite noise values"));
    for v in [
        vec![f64::NAN, f64::INFINITY],
        vec![0.3],
        vec![2.0; 10],
        vec![0.0; 3],
        vec![-1e300, 1e300, 1.0],
    ] {
        let svg = noise_histogram(&v, "x");
        assert_svg(&svg);
        assert!(!svg.contains("could not be drawn"), "{v:?}");
        assert_eq!(
            Hist::of(&v).counts.iter().sum::<usize>(),
            v.iter().filter(|x| x.abs() < HUGE).count()
        );
    }
}

#[test]
fn lines_split_at_gaps_and_clip_to_the_axes() {
    let nan = f64::NAN;
    let runs = clip_polyline(
        &[(0.0, 0.0), (1.0, 1.0), (2.0, nan), (3.0, 1.0), (4.0, 0.0)],
        (0.0, 4.0),
        (0.0, 1.0),
    );
    assert_eq!(
        runs,
        vec![vec![(0.0, 0.0), (1.0, 1.0)], vec![(3.0, 1.0), (4.0, 0.0)]]
    );
    // A line leaving through the top comes back through it: two runs ending on the edge.
    let runs = clip_polyline(
        &[(0.0, 0.5), (1.0, 1.5), (2.0, 0.5)],
        (0.0, 2.0),
        (0.0, 1.0),
    );
    assert_eq!(
        runs,
        vec![vec![(0.0, 0.5), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.5)]]
    );
    assert!(clip_polyline(&[(0.0, 5.0), (1.0, 6.0)], (0.0, 1.0), (0.0, 1.0)).is_empty());
    assert_eq!(
        clip_polyline(&[(0.5, 0.5)], (0.0, 1.0), (0.0, 1.0)).len(),
        1
    );
}

#[test]
fn ranges_are_padded_and_follow_the_data() {
    assert_eq!(pad(None), (0.0, 1.0));
    assert_eq!(pad(Some((0.0, 0.0))), (-1.0, 1.0));
    let (lo, hi) = pad(Some((5.0, 5.0)));
    assert!(lo < 5.0 && hi > 5.0);
    let (lo, hi) = capped_range([1.0, 2.0].into_iter(), [1.5, 1e30].into_iter());
    assert!(lo < 1.0 && hi > 2.0 && hi < 3.5, "({lo}, {hi})");
    let (lo, hi) = capped_range(std::iter::empty(), [3.0, 4.0].into_iter());
    assert!(lo < 3.0 && hi > 4.0);
    let (lo, hi) = log_range([2.0, 2.0].into_iter());
    assert!(lo < 2.0 && hi > 2.0 && lo > 0.0);
}

#[test]
fn log_ticks_label_narrow_and_wide_ranges() {
    let t = log_ticks(5.8e-5f64.log10(), 2.4e-4f64.log10());
    let v: Vec<String> = t.iter().map(|l| fmt_num(10f64.powf(*l))).collect();
    assert_eq!(v, ["6e-5", "7e-5", "8e-5", "9e-5", "1e-4", "2e-4"]);
    let t = log_ticks(-300.0, 300.0);
    assert!(t.len() > 5 && t.len() <= 60, "{}", t.len());
    assert!(log_ticks(1.0, 1.0).is_empty() && log_ticks(f64::NAN, 1.0).is_empty());
}

#[test]
fn axis_numbers_read_well() {
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(2.5), "2.5");
    assert_eq!(fmt_num(-10.0), "-10");
    assert_eq!(fmt_num(1.25e-4), "1.25e-4");
    assert_eq!(fmt_num(f64::NAN), "");
}

/// Writes example plots for a look (`cargo test --release -p odenet-report dump_examples --
/// --ignored`, then convert the SVGs, e.g. with rsvg-convert).
#[test]
#[ignore]
fn dump_examples() {
    let dir = std::env::temp_dir().join("odenet-report-plots");
    std::fs::create_dir_all(&dir).unwrap();
    let (t, tr) = lv(300, false);
    std::fs::write(
        dir.join("fit.svg"),
        data_vs_fit(&t, &tr, &names(2), &[false, false]),
    )
    .unwrap();
    let mut rng = Rng::new(7);
    let v: Vec<f64> = (0..4000).map(|_| 0.5 + 0.02 * rng.normal()).collect();
    std::fs::write(dir.join("noise.svg"), noise_histogram(&v, "e(x1)")).unwrap();
    let (t, tr) = lv(80, true);
    std::fs::write(
        dir.join("hidden.svg"),
        data_vs_fit(&t, &tr, &names(2), &[false, true]),
    )
    .unwrap();
    let path = vec![
        entry(12, 8.64e-5, 8.78e-5, false),
        entry(4, 8.65e-5, 8.77e-5, true),
        entry(3, 1.13e-4, 1.17e-4, false),
        entry(2, 1.2e-4, 1.23e-4, false),
        entry(0, 1.53e-4, 1.54e-4, false),
    ];
    std::fs::write(dir.join("path.svg"), sparsity_path(&path)).unwrap();
    let f = table(
        "f.csv",
        vec![0.0, 1.0, 2.0, 3.0],
        vec![vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 1.0, 1.0, 1.0]],
    );
    let tr = Trajectory {
        times: vec![0.0, 1.0, 2.0, 3.0],
        states: vec![
            1.0,
            1.0,
            1e300,
            f64::INFINITY,
            f64::NAN,
            f64::NAN,
            f64::NEG_INFINITY,
            1e-300,
        ],
        failure: Some("step size too small at t = 1.5".into()),
    };
    std::fs::write(
        dir.join("failed.svg"),
        data_vs_fit(&f, &tr, &names(2), &[false, false]),
    )
    .unwrap();
}

#[test]
fn coefficient_path_names_the_terms_and_marks_the_choice() {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let mut path = vec![
        entry(3, 1e-4, 1e-4, false),
        entry(2, 1e-4, 1e-4, true),
        entry(1, 2e-4, 2e-4, false),
    ];
    path[0].params = vec![2.0, -0.5, 0.01];
    path[1].params = vec![2.1, -0.4, 0.0];
    path[2].params = vec![2.5, 0.0, 0.0];
    let svg = coefficient_path(&path, &names);
    assert_svg(&svg);
    let texts: Vec<&str> = svg
        .split('>')
        .filter_map(|t| t.split('<').next())
        .map(str::trim)
        .collect();
    for name in ["a", "b", "c"] {
        assert!(texts.contains(&name), "legend lacks {name}");
    }
    for s in ["Coefficient paths", "selected: 2 terms"] {
        assert!(svg.contains(s), "missing {s}");
    }
    // Empty, mismatched and non-finite inputs still give a well-formed plot.
    let svg = coefficient_path(&[], &names);
    assert_svg(&svg);
    assert!(svg.contains("no coefficient path was recorded"));
    let mut odd = vec![entry(2, 1e-4, 1e-4, true), entry(1, 1e-4, 1e-4, false)];
    odd[0].params = vec![f64::NAN, f64::INFINITY, 0.0];
    odd[1].params = vec![1.0];
    assert_svg(&coefficient_path(&odd, &names));
}
