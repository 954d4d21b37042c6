//! odenet-report
