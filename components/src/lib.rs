//! hatch-components
