//! The loader's randomness: a splitmix64 generator per connection (fixed seed, so a run's
//! request sequence is reproducible) and a Zipf-like popularity over the items of one kind.

/// splitmix64: small, fast, and good enough for picking requests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator of connection `stream` under `seed`: streams of one seed differ.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x6C6F_6164);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Item popularity: item `i` (0-based) is drawn with probability proportional to
/// `1 / (i + 1)^exponent`; exponent 0 is uniform.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// Cumulative weights, normalised so the last is 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// The popularity of `n` items. `n` must be at least 1 for [`Zipf::sample`] to be useful; an
    /// empty one always draws item 0.
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|i| {
                total += ((i + 1) as f64).powf(-exponent);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    /// Draws an item index in `0..n`.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c <= u).min(self.cdf.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let draw = |seed, stream| {
            let mut rng = Rng::new(seed, stream);
            (0..4).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 2), draw(1, 2));
        assert_ne!(draw(1, 2), draw(1, 3));
        assert_ne!(draw(1, 2), draw(2, 2));
        let mut rng = Rng::new(7, 0);
        assert!((0..1000).map(|_| rng.unit()).all(|u| (0.0..1.0).contains(&u)));
    }

    #[test]
    fn zipf_favours_the_first_items() {
        let zipf = Zipf::new(100, 1.0);
        let mut rng = Rng::new(1, 1);
        let mut hits = [0u32; 100];
        for _ in 0..100_000 {
            hits[zipf.sample(&mut rng)] += 1;
        }
        // P(item 0) = 1 / H(100) ~ 0.19; P(item 99) ~ 0.0019.
        assert!((17_000..21_500).contains(&hits[0]), "{}", hits[0]);
        assert!(hits[0] > 5 * hits[9] && hits[9] > 3 * hits[99]);
        assert!(hits.iter().all(|&h| h > 0));
    }

    #[test]
    fn zero_exponent_is_uniform() {
        let zipf = Zipf::new(10, 0.0);
        let mut rng = Rng::new(3, 0);
        let mut hits = [0u32; 10];
        for _ in 0..50_000 {
            hits[zipf.sample(&mut rng)] += 1;
        }
        assert!(hits.iter().all(|&h| (4_500..5_500).contains(&h)), "{hits:?}");
        assert_eq!(Zipf::new(0, 1.0).sample(&mut rng), 0);
        assert_eq!(Zipf::new(1, 1.0).sample(&mut rng), 0);
    }
}
