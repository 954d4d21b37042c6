//! Fit-level benchmarks on the shipped Lorenz data (2001 points, 0.5% noise, complete quadratic
//! library, 30 coefficients): one loss-and-gradient evaluation over every piece with 1 and 2
//! threads, and a whole fit. See benches/README.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

fn lorenz() -> (odenet_spec::Spec, Vec<odenet_spec::Table>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/lorenz.toml");
    let spec = odenet_spec::Spec::load(&path).expect("specs/lorenz.toml loads");
    let tables = odenet_spec::load_tables(&spec).expect("data/lorenz.csv loads");
    (spec, tables)
}

fn loss_gradient(c: &mut Criterion) {
    let (spec, tables) = lorenz();
    let mut g = c.benchmark_group("lorenz loss+gradient, all pieces");
    for threads in [1usize, 2] {
        odenet_fit::with_loss_gradient(&spec, &tables, threads, |eval| {
            g.bench_function(format!("{threads} thread(s)"), |b| b.iter(&mut *eval));
        })
        .expect("problem builds");
    }
    g.finish();
}

fn whole_fit(c: &mut Criterion) {
    let (spec, tables) = lorenz();
    let mut g = c.benchmark_group("lorenz whole fit");
    g.sample_size(10);
    g.bench_function("default settings", |b| {
        b.iter(|| {
            odenet_fit::fit(&spec, &tables, &|_| {})
                .expect("fit runs")
                .loss
        })
    });
    g.finish();
}

criterion_group!(benches, loss_gradient, whole_fit);
criterion_main!(benches);
