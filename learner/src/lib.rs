//! hatch-learner
