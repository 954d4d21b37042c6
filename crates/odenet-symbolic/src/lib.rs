//! The symbolic stage: expressions from the spec become one simplified expression DAG for the
//! whole system (egg e-graph rewriting, extraction by size), and complete polynomial libraries
//! are generated with their canonical monomial names.
//!
//! This crate knows nothing of tapes, solvers or files.

pub mod dag;

pub use dag::{Dag, Node, NodeId, Symbols};
