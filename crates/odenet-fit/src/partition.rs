//! Sharing one fit's evaluations among cooperating processes (data parallelism, e.g. MPI ranks).
//!
//! An evaluation splits its pieces into fixed chunks (`evaluate::chunk_len`) whatever the
//! thread count, and sums the per-piece or per-chunk results in chunk order. A [`Partition`]
//! extends that across processes: every process computes the chunks of its own contiguous range
//! (balanced by label count), the per-piece or per-chunk results are *gathered* to every process
//! in chunk order, and every process then sums them exactly as a single process would. The sum
//! is therefore bit-identical for any number of processes and threads (a reduction such as
//! `MPI_Allreduce` would sum in an order that depends on the process count).
//!
//! Every process runs the whole fit (the same deterministic sequence of evaluations on the same
//! data), so the gathers line up; only the pieces' work is divided. Evaluations that run
//! concurrently inside a parallel section (built on a rayon worker thread) are not shared (see
//! [`current`]). This crate knows nothing of MPI: the binary implements [`Partition`] over it
//! behind a cargo feature.

use std::ops::Range;
use std::sync::{Arc, RwLock};

/// A group of processes that share each evaluation's chunks.
pub trait Partition: Send + Sync {
    /// The number of processes (1: this process computes everything).
    fn ranks(&self) -> usize;
    /// This process's index, `0..ranks()`.
    fn rank(&self) -> usize;
    /// A collective call of every process: each passes its values `local` (`counts[rank()]` of
    /// them) and receives every process's values, concatenated in rank order, in `out`
    /// (`counts.iter().sum()` values).
    fn all_gather(&self, local: &[f64], counts: &[usize], out: &mut [f64]);
}

/// One process computes every chunk; nothing is gathered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Partition for Local {
    fn ranks(&self) -> usize {
        1
    }
    fn rank(&self) -> usize {
        0
    }
    fn all_gather(&self, local: &[f64], _counts: &[usize], out: &mut [f64]) {
        out.copy_from_slice(local);
    }
}

static PARTITION: RwLock<Option<Arc<dyn Partition>>> = RwLock::new(None);

/// Makes every later fit of this process share its evaluations through `partition` (every
/// process of the group must run the same fit on the same data); `None` returns to one process.
/// Process-wide, like the MPI world it usually stands for.
pub fn distribute(partition: Option<Arc<dyn Partition>>) {
    if let Ok(mut p) = PARTITION.write() {
        *p = partition;
    }
}

/// The partition evaluations are built with (see [`distribute`]).
///
/// Only an evaluator built by the thread that runs the fit is shared: one built on a worker
/// thread belongs to a parallel section (several supports refitted or starts tried at once),
/// whose evaluations run in an order that differs between processes, so a gather there would
/// pair one process's evaluation with another's. Such an evaluator is [`Local`]: each process
/// computes it whole, with the same result. A shared fit therefore runs its stages from a thread
/// outside the rayon pool (the binary's MPI path runs it on the main thread).
pub(crate) fn current() -> Arc<dyn Partition> {
    if rayon::current_thread_index().is_some() {
        return Arc::new(Local);
    }
    PARTITION
        .read()
        .ok()
        .and_then(|p| p.clone())
        .unwrap_or_else(|| Arc::new(Local))
}

/// Splits `weights.len()` consecutive chunks into `ranks` contiguous ranges of about equal total
/// weight (range r ends where the running total first reaches r+1 shares). Deterministic, so
/// every process computes the same split.
pub fn split_balanced(weights: &[usize], ranks: usize) -> Vec<Range<usize>> {
    let ranks = ranks.max(1);
    let total: u128 = weights.iter().map(|&w| w as u128).sum();
    let mut ranges = Vec::with_capacity(ranks);
    let mut start = 0;
    let mut acc: u128 = 0;
    let mut k = 0;
    for r in 0..ranks {
        let target = total * (r as u128 + 1) / ranks as u128;
        while k < weights.len() && (acc < target || r + 1 == ranks) {
            // Stop before a chunk that would overshoot by more than it undershoots.
            let w = weights[k] as u128;
            if r + 1 < ranks && acc + w > target && (acc + w - target) > (target - acc) && k > start
            {
                break;
            }
            acc += w;
            k += 1;
        }
        ranges.push(start..k);
        start = k;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_every_chunk_once_in_order() {
        for ranks in 1..6 {
            for n in 0..20 {
                let w: Vec<usize> = (0..n).map(|k| 1 + (k * 7) % 5).collect();
                let s = split_balanced(&w, ranks);
                assert_eq!(s.len(), ranks);
                assert_eq!(s[0].start, 0);
                assert_eq!(s[ranks - 1].end, n);
                for p in s.windows(2) {
                    assert_eq!(p[0].end, p[1].start);
                }
            }
        }
    }

    #[test]
    fn split_balances_by_weight() {
        // One heavy chunk and many light ones: the heavy one gets a range of its own.
        let mut w = vec![100];
        w.extend(std::iter::repeat_n(10, 10));
        let s = split_balanced(&w, 2);
        assert_eq!(s, vec![0..1, 1..11]);
        // Equal weights split evenly.
        assert_eq!(split_balanced(&[1; 9], 3), vec![0..3, 3..6, 6..9]);
    }
}
