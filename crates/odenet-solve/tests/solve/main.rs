//! The piece solver against independent references: closed forms, high-accuracy solves with the
//! other method, published values, and central finite differences of the solution.

#[path = "../common/mod.rs"]
mod common;

mod accuracy;
mod failures;
mod sensitivities;
mod solver;

use odenet_tape::OdeRhs;

/// A model, its parameters, its initial state and the output times.
type Case<'a> = (&'a dyn OdeRhs, Vec<f64>, Vec<f64>, Vec<f64>);
