//! Pages and components.

pub mod status;
