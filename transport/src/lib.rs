//! hatch-transport
