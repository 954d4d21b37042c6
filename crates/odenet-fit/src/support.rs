//! A support: the active (free, not pruned) parameters and their normalised values.

/// Active parameters (indices into the model's parameter list) and their values q (normalised
/// units, p = pscale · q), in the same order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Support {
    pub active: Vec<usize>,
    pub q: Vec<f64>,
}

impl Support {
    pub fn new(active: Vec<usize>, q: Vec<f64>) -> Support {
        debug_assert_eq!(active.len(), q.len());
        Support { active, q }
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The support without the coordinates flagged in `drop` (aligned with `active`).
    pub fn without(&self, drop: &[bool]) -> Support {
        let mut out = Support::default();
        for ((&k, &v), &d) in self.active.iter().zip(&self.q).zip(drop) {
            if !d {
                out.active.push(k);
                out.q.push(v);
            }
        }
        out
    }

    /// The same active set with other values.
    pub fn with_values(&self, q: Vec<f64>) -> Support {
        Support::new(self.active.clone(), q)
    }
}

#[cfg(test)]
mod tests {
    use super::Support;

    #[test]
    fn without_keeps_order_and_values() {
        let s = Support::new(vec![0, 3, 5, 7], vec![1.0, 2.0, 3.0, 4.0]);
        let r = s.without(&[false, true, false, true]);
        assert_eq!(r, Support::new(vec![0, 5], vec![1.0, 3.0]));
        assert!(s.without(&[true; 4]).is_empty());
    }
}
