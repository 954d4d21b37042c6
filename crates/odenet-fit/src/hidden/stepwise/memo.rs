//! The refits of moves already made, by their exact inputs: the floating moves' removal chains
//! and the steps after a move is taken meet the same moves from the same current fit again
//! (actin MgCl₂: ten of the forty refits of one route's search), and a refit is a deterministic
//! function of what it starts from. A hit returns the stored result instead of refitting.

use std::collections::HashMap;

use crate::support::Support;

/// A refit's result: the support with its fitted values, its loss, and the pieces' profiled
/// initial values at its end.
pub(crate) type Refitted = (Support, f64, Vec<f64>);

/// What a move's refit is a function of: the target support and the values it starts from, the
/// current fit it is made from (its support and values, where it profiled the pieces' starts),
/// the loss above which it is abandoned, and whether it is a removal (refitted along the current
/// trajectory when the plain refit does not pay). Floats as their bits: equal keys are identical
/// inputs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct MoveKey {
    to: Vec<usize>,
    to_q: Vec<u64>,
    from: Vec<usize>,
    from_q: Vec<u64>,
    starts: Vec<u64>,
    abandon: u64,
    removal: bool,
}

impl MoveKey {
    pub(crate) fn new(
        to: &Support,
        from: &Support,
        starts: Option<&[f64]>,
        abandon: f64,
        removal: bool,
    ) -> MoveKey {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        MoveKey {
            to: to.active.clone(),
            to_q: bits(&to.q),
            from: from.active.clone(),
            from_q: bits(&from.q),
            starts: starts.map(bits).unwrap_or_default(),
            abandon: abandon.to_bits(),
            removal,
        }
    }
}

/// Refits made during one fit, by their inputs.
#[derive(Default)]
pub(crate) struct Memo {
    done: HashMap<MoveKey, Refitted>,
}

impl Memo {
    pub(crate) fn get(&self, key: &MoveKey) -> Option<&Refitted> {
        self.done.get(key)
    }

    pub(crate) fn insert(&mut self, key: MoveKey, r: Refitted) {
        self.done.insert(key, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are equal exactly when every input is: a value differing in its last bit, another
    /// start of a piece, or the removal flag make another key.
    #[test]
    fn keys_differ_with_any_input() {
        let to = Support::new(vec![0, 2], vec![0.5, -1.0]);
        let from = Support::new(vec![0, 1, 2], vec![0.5, 0.1, -1.0]);
        let starts = [1.0, 2.0];
        let k = MoveKey::new(&to, &from, Some(&starts), 4.0, true);
        assert_eq!(k, MoveKey::new(&to, &from, Some(&starts), 4.0, true));
        let nudged = Support::new(
            vec![0, 2],
            vec![0.5, f64::from_bits((-1.0f64).to_bits() + 1)],
        );
        assert_ne!(k, MoveKey::new(&nudged, &from, Some(&starts), 4.0, true));
        assert_ne!(k, MoveKey::new(&to, &from, Some(&[1.0, 2.5]), 4.0, true));
        assert_ne!(k, MoveKey::new(&to, &from, None, 4.0, true));
        assert_ne!(k, MoveKey::new(&to, &from, Some(&starts), 4.0, false));
        let mut memo = Memo::default();
        memo.insert(k.clone(), (to.clone(), 0.25, starts.to_vec()));
        assert_eq!(memo.get(&k).map(|r| r.1), Some(0.25));
    }
}
