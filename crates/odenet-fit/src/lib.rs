//! odenet-fit
