//! Dense row-major `p × p` Cholesky factorisation and triangular solves, for the small
//! normal equations of the factored learner's regressions and the simulator's reference fit.

/// Lower Cholesky factor of a symmetric positive definite `p × p` matrix.
pub(crate) fn cholesky(a: &[f64], l: &mut [f64], p: usize) {
    l.fill(0.0);
    for i in 0..p {
        for j in 0..=i {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                l[i * p + i] = s.max(1e-300).sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
}

/// Solve `L x = v` in place.
pub(crate) fn solve_lower(l: &[f64], v: &mut [f64], p: usize) {
    for i in 0..p {
        let mut s = v[i];
        for k in 0..i {
            s -= l[i * p + k] * v[k];
        }
        v[i] = s / l[i * p + i];
    }
}

/// Solve `Lᵀ x = v` in place.
pub(crate) fn solve_upper_t(l: &[f64], v: &mut [f64], p: usize) {
    for i in (0..p).rev() {
        let mut s = v[i];
        for k in i + 1..p {
            s -= l[k * p + i] * v[k];
        }
        v[i] = s / l[i * p + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let mut l = [0.0; 4];
        cholesky(&a, &mut l, 2);
        let mut x = [2.0, 1.0];
        solve_lower(&l, &mut x, 2);
        solve_upper_t(&l, &mut x, 2);
        // A x = [2, 1] => x = [0.5, 0].
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
    }
}
