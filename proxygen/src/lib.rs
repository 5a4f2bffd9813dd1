//! hatch-proxygen
