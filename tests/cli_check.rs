//! Golden tests of `odenet check`: every spec in `specs/` and `specs/valid/` is checked and what
//! the binary understood (states, parameters, simplified equations, DAG sizes, [fit], data) is
//! compared with `tests/snapshots/cli_check__<spec>.snap`.

mod common;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use common::{odenet, root, stem, tomls};

fn valid_specs() -> Vec<PathBuf> {
    let mut v = tomls("specs");
    v.extend(tomls("specs/valid"));
    v
}

/// Checks one spec: exit 0, nothing on stderr, no absolute path in stdout, and stdout as in its
/// snapshot.
fn check(spec: &Path) {
    let run = odenet([std::ffi::OsStr::new("check"), spec.as_os_str()]);
    run.expect(0);
    assert_eq!(run.stderr, "", "check wrote to stderr");
    let abs = root().to_string_lossy().into_owned();
    assert!(
        !run.stdout.contains(&abs),
        "stdout contains the absolute path {abs}:\n{}",
        run.stdout
    );
    insta::assert_snapshot!(stem(spec), run.stdout);
}

#[test]
fn check_prints_what_it_understood_for_every_valid_spec() {
    let specs = valid_specs();
    let names: BTreeSet<String> = specs.iter().map(|p| stem(p)).collect();
    assert_eq!(
        names.len(),
        specs.len(),
        "two specs share a name, so they would share a snapshot"
    );
    // Run every spec before failing, so one run reports every changed snapshot.
    let failed: Vec<String> = specs
        .iter()
        .filter(|spec| catch_unwind(AssertUnwindSafe(|| check(spec))).is_err())
        .map(|spec| spec.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "check differs from its snapshot for: {}",
        failed.join(", ")
    );
}

/// The data files are shown as written in the spec, whatever path the spec was given by.
#[test]
fn check_output_does_not_depend_on_how_the_spec_path_is_written() {
    for spec in ["specs/lorenz.toml", "specs/valid/actin-physical.toml"] {
        let rel = odenet(["check", spec]);
        rel.expect(0);
        let abs_path = root().join(spec);
        let abs = odenet([std::ffi::OsStr::new("check"), abs_path.as_os_str()]);
        abs.expect(0);
        assert_eq!(rel.stdout, abs.stdout, "{spec}");
        let dotted = odenet(["check", &format!("./specs/../{spec}")]);
        dotted.expect(0);
        assert_eq!(rel.stdout, dotted.stdout, "{spec}");
    }
}

/// The fixtures exercise what they were written for (independent of the snapshots' wording).
#[test]
fn check_understands_the_fixtures() {
    let tied = odenet(["check", "specs/valid/template-tied.toml"]);
    let out = &tied.expect(0).stdout;
    assert!(out.contains("  a init 1, min 0, max 5\n"), "{out}");
    assert!(out.contains("  b init 0.05, min 0, not sparse\n"), "{out}");
    assert!(out.contains("  d = 1 (fixed)\n"), "{out}");
    // `b` is used in both equations but is one parameter.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  b ")).count(),
        1,
        "{out}"
    );

    let actin = odenet(["check", "specs/valid/actin-physical.toml"]);
    let out = &actin.expect(0).stdout;
    assert!(out.contains("  P (hidden)\n"), "{out}");
    assert!(out.contains("constants: m_tot\n"), "{out}");
    assert!(out.contains("  constants: m_tot = 7.4\n"), "{out}");
    assert!(out.contains("  constants: m_tot = 3.7\n"), "{out}");
    assert_eq!(
        out.matches("  initial: P = 0, m = m_tot - M\n").count(),
        2,
        "{out}"
    );
    assert!(out.contains("segment whole"), "{out}");

    let extra = odenet(["check", "specs/valid/library-extra.toml"]);
    let out = &extra.expect(0).stdout;
    assert!(
        out.contains("  terms: 1, x, y, sin(x), x/(1 + y^2)\n"),
        "{out}"
    );
    assert!(
        out.contains("5 terms per equation, 10 coefficients"),
        "{out}"
    );
    assert!(
        out.contains("7 rows, t from 0 to 1, 2 missing values"),
        "{out}"
    );

    let full = odenet(["check", "specs/valid/fit-full.toml"]);
    let out = &full.expect(0).stdout;
    assert!(
        out.contains(
            "fit: segment 20, stride 3, mu 1e-2..1e-6, threshold 1e-3..5e-2, rounds 5, solver Tsit5, rtol 1e-7, \
             atol 1e-10, learn_noise true, init Zero, holdout 0.25, seed 42, prune Absolute, max_iters 150\n"
        ),
        "{out}"
    );
}
