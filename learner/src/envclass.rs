//! Environment classes (DES, SASO 2019, §III-E): a grouped-threshold
//! classifier over labelled event values, and one learner per class so a
//! returning workload finds what was learnt about it.
//!
//! Events of a window are grouped by label (values of one label averaged).
//! The window belongs to an existing class when that class has exactly the
//! same set of labels and every value is within tolerance of the class's;
//! otherwise it founds a new class.

use std::collections::BTreeMap;

/// Index of an environment class, in order of discovery.
pub type ClassId = usize;

/// How close two values of a label must be to count as the same environment:
/// `|a - b| <= max(absolute, relative * max(|a|, |b|))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance. Default `0.2`.
    pub relative: f64,
    /// Absolute tolerance. Default `0.0`.
    pub absolute: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { relative: 0.2, absolute: 0.0 }
    }
}

impl Tolerance {
    fn close(&self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.absolute.max(self.relative * a.abs().max(b.abs()))
    }
}

/// The grouped-threshold classifier.
///
/// # Examples
/// ```
/// use hatch_learner::envclass::{Classifier, Tolerance};
/// let mut c = Classifier::new(Tolerance::default());
/// let quiet = c.classify([("req/s", 10.0), ("dynamic", 0.2)]);
/// let busy = c.classify([("req/s", 200.0), ("dynamic", 0.2)]);
/// assert_ne!(quiet, busy);
/// assert_eq!(c.classify([("req/s", 11.0), ("dynamic", 0.21)]), quiet);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    tolerance: Tolerance,
    /// Reference values of each class, by label.
    classes: Vec<BTreeMap<String, f64>>,
    /// The tolerance factor by which the last window's class is preferred (1: none).
    hysteresis: f64,
    last: Option<ClassId>,
}

impl Classifier {
    /// An empty classifier.
    pub fn new(tolerance: Tolerance) -> Self {
        Classifier { tolerance, classes: Vec::new(), hysteresis: 1.0, last: None }
    }

    /// Keeps a window in the previous window's class while its values stay within `factor`
    /// times the tolerance of that class (`factor` ≥ 1), so a workload near a boundary between
    /// two classes does not flip between their learners window by window.
    pub fn with_hysteresis(mut self, factor: f64) -> Self {
        self.hysteresis = factor.max(1.0);
        self
    }

    /// Number of classes discovered so far.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether no class has been discovered.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The class of a window's events, creating one if none matches.
    pub fn classify<L: AsRef<str>>(&mut self, events: impl IntoIterator<Item = (L, f64)>) -> ClassId {
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (label, v) in events {
            let e = sums.entry(label.as_ref().to_owned()).or_default();
            e.0 += v;
            e.1 += 1.0;
        }
        let point: BTreeMap<String, f64> = sums.into_iter().map(|(k, (s, n))| (k, s / n)).collect();
        let matches = |class: &BTreeMap<String, f64>, tolerance: &Tolerance| {
            class.len() == point.len()
                && class.iter().zip(&point).all(|((ka, va), (kb, vb))| ka == kb && tolerance.close(*va, *vb))
        };
        let wide = Tolerance {
            relative: self.tolerance.relative * self.hysteresis,
            absolute: self.tolerance.absolute * self.hysteresis,
        };
        let sticky = self.last.filter(|&last| self.hysteresis > 1.0 && matches(&self.classes[last], &wide));
        let class = sticky
            .or_else(|| self.classes.iter().position(|class| matches(class, &self.tolerance)))
            .unwrap_or_else(|| {
                self.classes.push(point);
                self.classes.len() - 1
            });
        self.last = Some(class);
        class
    }
}

/// One learner per environment class, created on first sight of the class.
pub struct PerClass<P> {
    learners: Vec<P>,
    make: Box<dyn FnMut(ClassId) -> P + Send>,
}

impl<P> PerClass<P> {
    /// Learners made by `make` for each new class.
    pub fn new(make: impl FnMut(ClassId) -> P + Send + 'static) -> Self {
        PerClass { learners: Vec::new(), make: Box::new(make) }
    }

    /// The learner of `class`, creating learners up to it if needed.
    pub fn get(&mut self, class: ClassId) -> &mut P {
        while self.learners.len() <= class {
            let id = self.learners.len();
            let p = (self.make)(id);
            self.learners.push(p);
        }
        &mut self.learners[class]
    }

    /// The learner of `class` if it exists.
    pub fn peek(&self, class: ClassId) -> Option<&P> {
        self.learners.get(class)
    }

    /// The learner of `class` if it exists, mutably.
    pub fn peek_mut(&mut self, class: ClassId) -> Option<&mut P> {
        self.learners.get_mut(class)
    }
}

impl<P> std::fmt::Debug for PerClass<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerClass").field("classes", &self.learners.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_labels_within_tolerance_share_a_class() {
        let mut c = Classifier::new(Tolerance { relative: 0.1, absolute: 1.0 });
        let a = c.classify([("memory", 150.0)]);
        assert_eq!(c.classify([("memory", 160.0)]), a); // within 10%
        assert_eq!(c.classify([("memory", 150.5)]), a);
        let b = c.classify([("memory", 300.0)]);
        assert_ne!(a, b);
        // A different label set is a different environment even with equal values.
        let d = c.classify([("memory", 150.0), ("hosts", 3.0)]);
        assert_ne!(d, a);
        // Values of one label are averaged before comparing.
        assert_eq!(c.classify([("memory", 100.0), ("memory", 200.0)]), a);
        // Tiny values use the absolute tolerance.
        let z = c.classify([("x", 0.0)]);
        assert_eq!(c.classify([("x", 0.9)]), z);
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn hysteresis_keeps_a_wavering_workload_in_its_class() {
        let tolerance = Tolerance { relative: 0.2, absolute: 0.0 };
        let mut plain = Classifier::new(tolerance);
        let mut sticky = Classifier::new(tolerance).with_hysteresis(1.5);
        let walk = [100.0, 115.0, 124.0, 128.0, 118.0, 127.0];
        let plain_classes: Vec<ClassId> = walk.iter().map(|&v| plain.classify([("req/s", v)])).collect();
        let sticky_classes: Vec<ClassId> = walk.iter().map(|&v| sticky.classify([("req/s", v)])).collect();
        // 128 is more than 20% above 100: a new class without hysteresis, and the workload
        // flips between the two classes as it wavers.
        assert_eq!(plain_classes, [0, 0, 0, 1, 0, 1]);
        assert_eq!(sticky_classes, [0; 6]);
        // Far away is still a new class.
        assert_eq!(sticky.classify([("req/s", 400.0)]), 1);
        // And coming back finds the old class.
        assert_eq!(sticky.classify([("req/s", 105.0)]), 0);
    }

    #[test]
    fn per_class_keeps_state_when_a_class_returns() {
        let mut p: PerClass<Vec<u32>> = PerClass::new(|_| Vec::new());
        p.get(0).push(1);
        p.get(2).push(3);
        p.get(0).push(2);
        assert_eq!(p.peek(0), Some(&vec![1, 2]));
        assert_eq!(p.peek(1), Some(&vec![]));
        assert_eq!(p.peek(2), Some(&vec![3]));
    }
}
