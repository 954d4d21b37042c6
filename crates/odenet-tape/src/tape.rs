//! The generic instruction tape: a [`Dag`] lowered to a flat list of small `Copy` instructions
//! that read and write numbered value slots.
//!
//! Slot layout (the first `nslots` entries of the scratch buffer):
//! `[ x (nstates) | p (nparams) | c (nconsts) | number literals | one slot per instruction ]`.
//! Instruction `k` writes slot `instr_base + k`, so destinations need not be stored.
//!
//! Derivatives use reverse mode. The forward pass of [`Tape::eval_jac`] stores, for every
//! instruction, the local partial derivatives with respect to its (at most two) operands; each
//! output then gets one reverse sweep that is a plain multiply–add per instruction, without any
//! branching on the operation. Reverse mode wins for ODE right-hand sides because the number of
//! outputs (the states) never exceeds the number of inputs (states plus parameters): the forward
//! alternative needs one sweep per input. Each output's sweep visits only the instructions in its
//! own cone that depend on x or p ("active" instructions); everything else has a zero derivative.

use crate::error::TapeError;
use odenet_symbolic::{Dag, Node};

/// One tape instruction; the operands are slot indices.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Instr {
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    Pow(u32, u32),
    /// a^2, the common case of `PowI`, as one multiplication.
    Square(u32),
    /// a^3, as two multiplications.
    Cube(u32),
    PowI(u32, i32),
    Exp(u32),
    Log(u32),
    Sin(u32),
    Cos(u32),
    Sqrt(u32),
}

impl Instr {
    /// The operand slots; unary instructions report `sink` as their second operand so that the
    /// reverse sweep can treat every instruction as binary.
    fn operands(self, sink: u32) -> (u32, u32) {
        match self {
            Instr::Add(a, b)
            | Instr::Sub(a, b)
            | Instr::Mul(a, b)
            | Instr::Div(a, b)
            | Instr::Pow(a, b) => (a, b),
            Instr::Neg(a)
            | Instr::Square(a)
            | Instr::Cube(a)
            | Instr::PowI(a, _)
            | Instr::Exp(a)
            | Instr::Log(a)
            | Instr::Sin(a)
            | Instr::Cos(a)
            | Instr::Sqrt(a) => (a, sink),
        }
    }
}

/// One step of a reverse sweep: `adj[a] += adj[dest] * d0[k]`, `adj[b] += adj[dest] * d1[k]`
/// where `dest = instr_base + k`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RevOp {
    k: u32,
    a: u32,
    b: u32,
}

/// A compiled tape for a system of expressions in states x, parameters p and constants c.
#[derive(Clone, Debug, PartialEq)]
pub struct Tape {
    nstates: usize,
    nparams: usize,
    nconsts: usize,
    /// Number-literal values, copied into their slots at the start of each evaluation.
    nums: Vec<f64>,
    instrs: Vec<Instr>,
    /// Slot of each output.
    outputs: Vec<u32>,
    /// Reverse-sweep operations of all outputs, each output's in reverse evaluation order.
    rev: Vec<RevOp>,
    /// `rev[rev_start[i]..rev_start[i + 1]]` is the sweep of output i.
    rev_start: Vec<usize>,
    /// `Some(j)` when output i is the negation of output j (dm/dt = −dM/dt under a
    /// conservation law): its Jacobian rows are output j's negated, and its sweep is empty.
    neg_of: Vec<Option<usize>>,
}

impl Tape {
    /// Lowers `dag` to a tape. Only nodes reachable from the roots become instructions.
    ///
    /// Errors when a leaf index is out of range, a child does not come before its parent, a root
    /// does not exist, or the tape would be too large to address with 32-bit slots.
    pub fn compile(
        dag: &Dag,
        nstates: usize,
        nparams: usize,
        nconsts: usize,
    ) -> Result<Tape, TapeError> {
        let nnodes = dag.nodes.len();
        validate(dag, nstates, nparams, nconsts)?;

        // Mark the nodes reachable from the roots; children come first, so one backward pass
        // sees every parent before its children.
        let mut reachable = vec![false; nnodes];
        for &r in &dag.roots {
            reachable[r as usize] = true;
        }
        for k in (0..nnodes).rev() {
            if reachable[k] {
                for child in dag.nodes[k].children() {
                    reachable[child as usize] = true;
                }
            }
        }

        let leaf_slots = nstates + nparams + nconsts;
        let nnums = (0..nnodes)
            .filter(|&k| reachable[k] && matches!(dag.nodes[k], Node::Num(_)))
            .count();
        let instr_base = leaf_slots + nnums;
        let ninstr = (0..nnodes)
            .filter(|&k| reachable[k] && !is_leaf(dag.nodes[k]))
            .count();
        let nslots = instr_base + ninstr;
        // One more slot (the sink) must be addressable as well.
        let max = u32::MAX as usize - 1;
        if nslots > max {
            return Err(TapeError::TooLarge { slots: nslots, max });
        }

        // Assign a slot to every reachable node and lower the operations.
        let mut slot = vec![u32::MAX; nnodes];
        let mut nums = Vec::with_capacity(nnums);
        let mut instrs = Vec::with_capacity(ninstr);
        for (k, &node) in dag.nodes.iter().enumerate() {
            if !reachable[k] {
                continue;
            }
            let s = |id: u32| slot[id as usize];
            slot[k] = match node {
                Node::State(i) => i,
                Node::Param(j) => (nstates + j as usize) as u32,
                Node::Const(j) => (nstates + nparams + j as usize) as u32,
                Node::Num(v) => {
                    nums.push(v);
                    (leaf_slots + nums.len() - 1) as u32
                }
                op => {
                    // Every non-leaf node lowers to exactly one instruction.
                    let Some(instr) = lower(op, s) else { continue };
                    instrs.push(instr);
                    (instr_base + instrs.len() - 1) as u32
                }
            };
        }
        let outputs: Vec<u32> = dag.roots.iter().map(|&r| slot[r as usize]).collect();
        // Outputs that negate another output (itself not such a negation).
        let negated = |i: usize| -> Option<usize> {
            let k = (outputs[i] as usize).checked_sub(instr_base)?;
            let Instr::Neg(a) = *instrs.get(k)? else {
                return None;
            };
            outputs.iter().position(|&o| o == a)
        };
        let neg_of: Vec<Option<usize>> = (0..outputs.len())
            .map(|i| negated(i).filter(|&j| j != i && negated(j).is_none()))
            .collect();

        // A slot is active when it depends on x or p; constants and literals are not.
        let sink = nslots as u32;
        let mut active = vec![false; nslots + 1];
        active[..nstates + nparams].fill(true);
        for (k, &ins) in instrs.iter().enumerate() {
            let (a, b) = ins.operands(sink);
            active[instr_base + k] = active[a as usize] || active[b as usize];
        }

        // Each output's reverse sweep: the active instructions of its cone, last first.
        let mut rev = Vec::new();
        let mut rev_start = Vec::with_capacity(outputs.len() + 1);
        let mut marked = vec![false; nslots + 1];
        for (i, &out) in outputs.iter().enumerate() {
            rev_start.push(rev.len());
            if neg_of[i].is_some() {
                continue;
            }
            marked.fill(false);
            marked[out as usize] = true;
            for k in (0..instrs.len()).rev() {
                let dest = instr_base + k;
                if !marked[dest] || !active[dest] {
                    continue;
                }
                let (a, b) = instrs[k].operands(sink);
                marked[a as usize] = true;
                marked[b as usize] = true;
                rev.push(RevOp { k: k as u32, a, b });
            }
        }
        rev_start.push(rev.len());

        Ok(Tape {
            nstates,
            nparams,
            nconsts,
            nums,
            instrs,
            outputs,
            rev,
            rev_start,
            neg_of,
        })
    }

    pub fn noutputs(&self) -> usize {
        self.outputs.len()
    }

    pub fn nstates(&self) -> usize {
        self.nstates
    }

    pub fn nparams(&self) -> usize {
        self.nparams
    }

    pub fn nconsts(&self) -> usize {
        self.nconsts
    }

    /// Number of operations on the tape (leaves and literals are not counted).
    pub fn ninstructions(&self) -> usize {
        self.instrs.len()
    }

    fn instr_base(&self) -> usize {
        self.nstates + self.nparams + self.nconsts + self.nums.len()
    }

    fn nslots(&self) -> usize {
        self.instr_base() + self.instrs.len()
    }

    /// Scratch entries needed by [`Tape::eval`] and [`Tape::eval_jac`]: the value slots, the
    /// adjoint slots plus a sink, and two local partials per instruction.
    pub fn scratch_len(&self) -> usize {
        2 * self.nslots() + 1 + 2 * self.instrs.len()
    }

    /// Checks the buffer lengths shared by `eval` and `eval_jac`, once per call.
    fn check_inputs(&self, x: &[f64], p: &[f64], c: &[f64], scratch: &[f64], out: &[f64]) {
        assert_eq!(x.len(), self.nstates, "x must have one entry per state");
        assert_eq!(p.len(), self.nparams, "p must have one entry per parameter");
        assert_eq!(c.len(), self.nconsts, "c must have one entry per constant");
        assert!(
            scratch.len() >= self.scratch_len(),
            "scratch must hold Tape::scratch_len() entries"
        );
        assert_eq!(
            out.len(),
            self.noutputs(),
            "out must have one entry per output"
        );
    }

    /// Copies the leaves and literals into their slots.
    fn load(&self, x: &[f64], p: &[f64], c: &[f64], vals: &mut [f64]) {
        let (ns, np, nc) = (self.nstates, self.nparams, self.nconsts);
        vals[..ns].copy_from_slice(x);
        vals[ns..ns + np].copy_from_slice(p);
        vals[ns + np..ns + np + nc].copy_from_slice(c);
        vals[ns + np + nc..self.instr_base()].copy_from_slice(&self.nums);
    }

    /// Evaluates every output into `out`.
    ///
    /// # Panics
    /// When a buffer length disagrees with the tape (a programming error, checked once per call).
    pub fn eval(&self, x: &[f64], p: &[f64], c: &[f64], scratch: &mut [f64], out: &mut [f64]) {
        self.check_inputs(x, p, c, scratch, out);
        let vals = &mut scratch[..self.nslots()];
        self.load(x, p, c, vals);
        let base = self.instr_base();
        for (k, &ins) in self.instrs.iter().enumerate() {
            let v = |s: u32| vals[s as usize];
            let r = match ins {
                Instr::Add(a, b) => v(a) + v(b),
                Instr::Sub(a, b) => v(a) - v(b),
                Instr::Mul(a, b) => v(a) * v(b),
                Instr::Div(a, b) => v(a) / v(b),
                Instr::Neg(a) => -v(a),
                Instr::Pow(a, b) => v(a).powf(v(b)),
                Instr::Square(a) => v(a) * v(a),
                Instr::Cube(a) => v(a) * v(a) * v(a),
                Instr::PowI(a, n) => v(a).powi(n),
                Instr::Exp(a) => v(a).exp(),
                Instr::Log(a) => v(a).ln(),
                Instr::Sin(a) => v(a).sin(),
                Instr::Cos(a) => v(a).cos(),
                Instr::Sqrt(a) => v(a).sqrt(),
            };
            vals[base + k] = r;
        }
        for (o, &s) in out.iter_mut().zip(&self.outputs) {
            *o = vals[s as usize];
        }
    }

    /// Evaluates the outputs and their Jacobians: `jx[i*nstates + j] = ∂out_i/∂x_j` and
    /// `jp[i*nparams + k] = ∂out_i/∂p_k` (both row-major, every entry written).
    ///
    /// # Panics
    /// When a buffer length disagrees with the tape (a programming error, checked once per call).
    #[allow(clippy::too_many_arguments)]
    pub fn eval_jac(
        &self,
        x: &[f64],
        p: &[f64],
        c: &[f64],
        scratch: &mut [f64],
        out: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        self.check_inputs(x, p, c, scratch, out);
        let (ns, np) = (self.nstates, self.nparams);
        assert_eq!(
            jx.len(),
            self.noutputs() * ns,
            "jx must have noutputs × nstates entries"
        );
        assert_eq!(
            jp.len(),
            self.noutputs() * np,
            "jp must have noutputs × nparams entries"
        );
        let nslots = self.nslots();
        let base = self.instr_base();
        let (vals, rest) = scratch.split_at_mut(nslots);
        let (adj, rest) = rest.split_at_mut(nslots + 1);
        let part = &mut rest[..2 * self.instrs.len()];
        self.load(x, p, c, vals);

        // Forward pass: values and the local partials ∂r/∂a, ∂r/∂b of every instruction.
        for (k, &ins) in self.instrs.iter().enumerate() {
            let v = |s: u32| vals[s as usize];
            let (r, d0, d1) = match ins {
                Instr::Add(a, b) => (v(a) + v(b), 1.0, 1.0),
                Instr::Sub(a, b) => (v(a) - v(b), 1.0, -1.0),
                Instr::Mul(a, b) => (v(a) * v(b), v(b), v(a)),
                Instr::Div(a, b) => {
                    let inv = 1.0 / v(b);
                    let r = v(a) * inv;
                    (r, inv, -r * inv)
                }
                Instr::Neg(a) => (-v(a), -1.0, 0.0),
                Instr::Pow(a, b) => {
                    let (va, vb) = (v(a), v(b));
                    let r = va.powf(vb);
                    // The exponent derivative r·ln(a) tends to 0 as a → 0 (for b > 0); writing
                    // the limit avoids 0·(−∞) = NaN at a base of exactly zero.
                    let db = if r == 0.0 { 0.0 } else { r * va.ln() };
                    (r, vb * va.powf(vb - 1.0), db)
                }
                Instr::Square(a) => (v(a) * v(a), 2.0 * v(a), 0.0),
                Instr::Cube(a) => {
                    let sq = v(a) * v(a);
                    (sq * v(a), 3.0 * sq, 0.0)
                }
                Instr::PowI(a, n) => {
                    // a^0 is the constant 1: its derivative is 0 even at a = 0.
                    let d = if n == 0 {
                        0.0
                    } else {
                        f64::from(n) * v(a).powi(n - 1)
                    };
                    (v(a).powi(n), d, 0.0)
                }
                Instr::Exp(a) => {
                    let r = v(a).exp();
                    (r, r, 0.0)
                }
                Instr::Log(a) => (v(a).ln(), 1.0 / v(a), 0.0),
                Instr::Sin(a) => {
                    let (s, c) = v(a).sin_cos();
                    (s, c, 0.0)
                }
                Instr::Cos(a) => {
                    let (s, c) = v(a).sin_cos();
                    (c, -s, 0.0)
                }
                Instr::Sqrt(a) => {
                    let r = v(a).sqrt();
                    (r, 0.5 / r, 0.0)
                }
            };
            vals[base + k] = r;
            part[2 * k] = d0;
            part[2 * k + 1] = d1;
        }
        for (o, &s) in out.iter_mut().zip(&self.outputs) {
            *o = vals[s as usize];
        }

        // One reverse sweep per output over its active cone; a negated output's rows after.
        for (i, &root) in self.outputs.iter().enumerate() {
            if self.neg_of[i].is_some() {
                continue;
            }
            adj.fill(0.0);
            adj[root as usize] = 1.0;
            for op in &self.rev[self.rev_start[i]..self.rev_start[i + 1]] {
                let k = op.k as usize;
                debug_assert!(base + k < nslots && (op.a as usize) <= nslots);
                let g = adj[base + k];
                adj[op.a as usize] += g * part[2 * k];
                adj[op.b as usize] += g * part[2 * k + 1];
            }
            jx[i * ns..(i + 1) * ns].copy_from_slice(&adj[..ns]);
            jp[i * np..(i + 1) * np].copy_from_slice(&adj[ns..ns + np]);
        }
        for (i, j) in self.neg_of.iter().enumerate() {
            let Some(j) = *j else { continue };
            for c in 0..ns {
                jx[i * ns + c] = -jx[j * ns + c];
            }
            for c in 0..np {
                jp[i * np + c] = -jp[j * np + c];
            }
        }
    }
}

/// The instruction of an operation node, reading its operands' slots through `s`; `None` for
/// leaves, which occupy slots but execute nothing.
fn lower(node: Node, s: impl Fn(u32) -> u32) -> Option<Instr> {
    Some(match node {
        Node::Num(_) | Node::State(_) | Node::Param(_) | Node::Const(_) => return None,
        Node::Add(a, b) => Instr::Add(s(a), s(b)),
        Node::Sub(a, b) => Instr::Sub(s(a), s(b)),
        Node::Mul(a, b) => Instr::Mul(s(a), s(b)),
        Node::Div(a, b) => Instr::Div(s(a), s(b)),
        Node::Neg(a) => Instr::Neg(s(a)),
        Node::Pow(a, b) => Instr::Pow(s(a), s(b)),
        Node::PowI(a, 2) => Instr::Square(s(a)),
        Node::PowI(a, 3) => Instr::Cube(s(a)),
        Node::PowI(a, n) => Instr::PowI(s(a), n),
        Node::Exp(a) => Instr::Exp(s(a)),
        Node::Log(a) => Instr::Log(s(a)),
        Node::Sin(a) => Instr::Sin(s(a)),
        Node::Cos(a) => Instr::Cos(s(a)),
        Node::Sqrt(a) => Instr::Sqrt(s(a)),
    })
}

fn is_leaf(node: Node) -> bool {
    matches!(
        node,
        Node::Num(_) | Node::State(_) | Node::Param(_) | Node::Const(_)
    )
}

/// Checks leaf ranges, the children-first order and the roots, reporting the first problem.
fn validate(dag: &Dag, nstates: usize, nparams: usize, nconsts: usize) -> Result<(), TapeError> {
    for (k, &node) in dag.nodes.iter().enumerate() {
        match node {
            Node::State(i) if i as usize >= nstates => {
                return Err(TapeError::StateOutOfRange {
                    node: k,
                    index: i,
                    nstates,
                });
            }
            Node::Param(j) if j as usize >= nparams => {
                return Err(TapeError::ParamOutOfRange {
                    node: k,
                    index: j,
                    nparams,
                });
            }
            Node::Const(j) if j as usize >= nconsts => {
                return Err(TapeError::ConstOutOfRange {
                    node: k,
                    index: j,
                    nconsts,
                });
            }
            _ => {}
        }
        if let Some(child) = node.children().find(|&c| c as usize >= k) {
            return Err(TapeError::ChildNotBefore { node: k, child });
        }
    }
    let nnodes = dag.nodes.len();
    if let Some((output, &node)) = dag
        .roots
        .iter()
        .enumerate()
        .find(|(_, r)| **r as usize >= nnodes)
    {
        return Err(TapeError::RootOutOfRange {
            output,
            node,
            nnodes,
        });
    }
    Ok(())
}
