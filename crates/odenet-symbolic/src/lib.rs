//! The symbolic stage: expressions from the spec become one simplified expression DAG for the
//! whole system (egg e-graph rewriting, extraction by size), and complete polynomial libraries
//! are generated with their canonical monomial names.
//!
//! This crate knows nothing of tapes, solvers or files.
//!
//! The files follow the concepts, as in egg itself:
//! - [`language`]: the e-graph language and its constant-folding analysis,
//! - [`rules`]: the one table of named rewrite rules,
//! - [`simplify`]: the runner, extraction by size, and the shared DAG built from the e-graph,
//! - [`dag`]: the flat expression DAG, its construction from expressions and a reference evaluator,
//! - [`print`]: infix and LaTeX printing, and the `odenet simplify` convenience,
//! - [`library`]: complete polynomial libraries and canonical monomial names.
//!
//! Convention for every rewrite: a simplified expression has the same value as the original
//! wherever the original is finite. Simplification may *extend* the domain (`x/x` becomes `1`,
//! which is also defined at `x = 0`; `0*x` becomes `0` even where `x` is infinite), but it never
//! changes a finite value and never makes a finite expression non-finite.

pub mod dag;
pub mod error;
pub mod language;
pub mod library;
pub mod print;
pub mod rules;
pub mod simplify;

pub use dag::{Dag, Node, NodeId, Symbols};
pub use error::SymbolicError;
pub use library::{
    library_features, library_system, monomial_name, monomials, parse_monomial_name,
};
pub use print::{simplify_str, substitute_params};
pub use simplify::{Simplified, SimplifyOptions, simplify};
