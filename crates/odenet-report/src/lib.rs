//! The report stage: the model file (v1), the printed summary of a fit, and plots.
//!
//! This crate turns results into text and pictures; it never reads input files and never
//! writes anywhere itself: the CLI decides where bytes go.

pub mod export;
pub mod model_file;
pub mod page;
pub mod plots;
pub mod summary;

pub use export::{Lang, export};
pub use model_file::{ModelFile, ModelFileError};
