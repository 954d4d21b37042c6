//! Simplification of a whole system at once: the expressions go into one e-graph, the rule
//! table runs under explicit limits, and one DAG is extracted for all roots so that equal
//! subexpressions (also across equations) are computed once.

use std::collections::HashMap;
use std::time::Duration;

use egg::{CostFunction, Extractor, Id, Language, Runner, StopReason, Symbol};
use odenet_spec::Expr;

use crate::dag::{DagBuilder, Resolver, tree_size};
use crate::error::SymbolicError;
use crate::language::{ConstantFold, EGraph, Math, constant, small_integer};
use crate::rules::rules;
use crate::{Dag, Node, NodeId, Symbols};

/// Limits of the e-graph run. All three are always set: full rule sets never saturate on
/// polynomial libraries, so the limits decide when to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplifyOptions {
    /// Maximum number of rewrite iterations.
    pub iter_limit: usize,
    /// Maximum number of e-nodes. egg checks it between iterations, so the e-graph can end
    /// several times larger than this (NOTES-deps.md measured 40k nodes for a 10k limit).
    pub node_limit: usize,
    /// Maximum wall time of the run (also checked between iterations).
    pub time_limit: Duration,
}

impl Default for SimplifyOptions {
    fn default() -> Self {
        SimplifyOptions {
            iter_limit: 8,
            node_limit: 30_000,
            time_limit: Duration::from_millis(500),
        }
    }
}

/// The result of [`simplify`]: one DAG for the whole system and how the run went.
#[derive(Clone, Debug, PartialEq)]
pub struct Simplified {
    /// The simplified system; `dag.roots[i]` is the i-th input expression.
    pub dag: Dag,
    /// Total number of nodes of the input expression trees (no sharing).
    pub tree_size: usize,
    /// Number of nodes of the unsimplified DAG (identical subtrees stored once).
    pub dag_size_before: usize,
    /// Number of nodes of `dag`.
    pub dag_size: usize,
    /// Why the e-graph run stopped ("saturated", "iteration limit (8)", "node limit (41234
    /// e-nodes)", "time limit (0.51 s)"); a limit is a normal way to stop.
    pub stop_reason: String,
    /// Rewrite iterations performed.
    pub iterations: usize,
    /// E-nodes in the final e-graph.
    pub egraph_nodes: usize,
    /// Number of roots kept in their unsimplified form. Extraction minimises each expression
    /// as a tree, which can lose sharing across equations (a factored `m*(a1 + a2*m)` no longer
    /// shares `a1*m` with a neighbour); each root is therefore taken either from the input or
    /// from the extraction, whichever gives the smaller combined DAG, so `dag_size` is never
    /// larger than `dag_size_before`.
    pub roots_from_input: usize,
}

/// Extraction cost: the size of the tree, with leaves and operators 10 each, `neg` 1 (so that
/// `-(f)` is preferred over an expanded form and shares `f`), a power with a positive integer
/// literal exponent 9 (so that `x^2` is preferred over `x*x`) and any other power 11 (so that
/// `a/b` is preferred over `a*b^-1`).
pub struct SizeCost<'a> {
    egraph: &'a EGraph,
}

impl<'a> SizeCost<'a> {
    pub fn new(egraph: &'a EGraph) -> Self {
        SizeCost { egraph }
    }
}

impl CostFunction<Math> for SizeCost<'_> {
    type Cost = u64;

    fn cost<C>(&mut self, enode: &Math, mut costs: C) -> u64
    where
        C: FnMut(Id) -> u64,
    {
        let op = match enode {
            Math::Neg(_) => 1,
            Math::Pow([_, k]) => match self.egraph[*k].data {
                Some(k) if small_integer(k.into_inner()).is_some_and(|k| k > 0) => 9,
                _ => 11,
            },
            _ => 10,
        };
        enode.fold(op, |sum, id| sum.saturating_add(costs(id)))
    }
}

fn describe(reason: &StopReason) -> String {
    match reason {
        StopReason::Saturated => "saturated".to_string(),
        StopReason::IterationLimit(n) => format!("iteration limit ({n})"),
        StopReason::NodeLimit(n) => format!("node limit ({n} e-nodes)"),
        StopReason::TimeLimit(s) => format!("time limit ({s:.3} s)"),
        StopReason::Other(s) => s.clone(),
    }
}

/// The name a leaf carries in the e-graph.
fn leaf_symbol(node: &Node, syms: &Symbols) -> Symbol {
    Symbol::from(syms.name(node).unwrap_or("?"))
}

/// Simplifies a system of expressions into one shared DAG.
///
/// Names resolve through `syms` (an unknown or doubly declared name is an error). The result
/// has the same value as the input wherever the input is finite (see the crate docs).
pub fn simplify(
    exprs: &[Expr],
    syms: &Symbols,
    opts: &SimplifyOptions,
) -> Result<Simplified, SymbolicError> {
    let before = Dag::from_exprs(exprs, syms)?;
    let tree_size: usize = exprs.iter().map(tree_size).sum();

    // The unsimplified DAG goes into the e-graph node by node (it is already in children-first
    // order), so the e-graph starts from the hash-consed form.
    let mut egraph = EGraph::default();
    let mut ids: Vec<Id> = Vec::with_capacity(before.nodes.len());
    for node in &before.nodes {
        let c = |k: NodeId| ids[k as usize];
        let math = match *node {
            Node::Num(v) => {
                Math::Num(constant(v).ok_or(SymbolicError::NonFiniteNumber { value: v })?)
            }
            Node::State(_) | Node::Param(_) | Node::Const(_) => {
                Math::Symbol(leaf_symbol(node, syms))
            }
            Node::Add(a, b) => Math::Add([c(a), c(b)]),
            Node::Sub(a, b) => Math::Sub([c(a), c(b)]),
            Node::Mul(a, b) => Math::Mul([c(a), c(b)]),
            Node::Div(a, b) => Math::Div([c(a), c(b)]),
            Node::Neg(a) => Math::Neg(c(a)),
            Node::Pow(a, b) => Math::Pow([c(a), c(b)]),
            Node::PowI(a, k) => {
                let k = egraph.add(Math::Num(constant(f64::from(k)).unwrap_or_default()));
                Math::Pow([c(a), k])
            }
            Node::Exp(a) => Math::Exp(c(a)),
            Node::Log(a) => Math::Log(c(a)),
            Node::Sin(a) => Math::Sin(c(a)),
            Node::Cos(a) => Math::Cos(c(a)),
            Node::Sqrt(a) => Math::Sqrt(c(a)),
        };
        ids.push(egraph.add(math));
    }
    let roots: Vec<Id> = before.roots.iter().map(|&r| ids[r as usize]).collect();
    egraph.rebuild();

    let runner = Runner::<Math, ConstantFold>::new(ConstantFold)
        .with_egraph(egraph)
        .with_iter_limit(opts.iter_limit)
        .with_node_limit(opts.node_limit)
        .with_time_limit(opts.time_limit)
        .run(rules());
    let stop_reason = runner
        .stop_reason
        .as_ref()
        .map(describe)
        .unwrap_or_default();
    let iterations = runner.iterations.len();
    let egraph = &runner.egraph;
    let egraph_nodes = egraph.total_size();

    let extractor = Extractor::new(egraph, SizeCost::new(egraph));
    let resolver = Resolver::new(syms);
    let extracted = extract_dag(egraph, &extractor, &roots, &resolver)?;

    let dag_size_before = before.len();
    let (mut dag, mut roots_from_input) = choose_roots(&before, &extracted);
    let mut stop_reason = stop_reason;
    // Rules guarded by "not known to be zero" (x/x → 1, common factors) are applied before the
    // e-graph may learn that a factor is identically zero; such a late discovery can merge
    // classes that differ. The result is therefore checked against the input at sample points
    // and, when they disagree, the input is kept (found by the fuzz campaign: a factor that
    // expands to zero made (x·A)/(y·A) equal to a constant).
    if !agrees(&before, &dag, syms) {
        dag = before.clone();
        roots_from_input = dag.roots.len();
        stop_reason.push_str("; the simplified form changed a value and was discarded");
    }
    Ok(Simplified {
        dag_size: dag.len(),
        dag,
        tree_size,
        dag_size_before,
        stop_reason,
        iterations,
        egraph_nodes,
        roots_from_input,
    })
}

/// True when `simplified` has the value of `input` (within rounding relative to the
/// magnitudes involved) at fixed pseudo-random points wherever `input` is finite.
fn agrees(input: &Dag, simplified: &Dag, syms: &Symbols) -> bool {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // In ±[0.3, 1.9]: away from zero, where removable singularities sit.
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        let m = 0.3 + 1.6 * (2.0 * u - 1.0).abs();
        if u < 0.5 { -m } else { m }
    };
    let mut a = vec![0.0; input.len()];
    let mut b = vec![0.0; simplified.len()];
    // Many points: an input that is 0/0 in exact arithmetic (a factor like
    // log(sin(x)^2 + cos(x)^2)) is finite only where rounding makes the factor non-zero, at
    // roughly half of the points (found by the fuzz campaign).
    for _ in 0..24 {
        let x: Vec<f64> = syms.states.iter().map(|_| next()).collect();
        let p: Vec<f64> = syms.params.iter().map(|_| next()).collect();
        let c: Vec<f64> = syms.consts.iter().map(|_| next()).collect();
        if input.eval_nodes(&x, &p, &c, &mut a).is_err()
            || simplified.eval_nodes(&x, &p, &c, &mut b).is_err()
        {
            return false;
        }
        let scale = a
            .iter()
            .chain(&b)
            .filter(|v| v.is_finite())
            .fold(1.0f64, |m, v| m.max(v.abs()));
        for (&ra, &rb) in input.roots.iter().zip(&simplified.roots) {
            let (va, vb) = (a[ra as usize], b[rb as usize]);
            if va.is_finite() && !(vb.is_finite() && (va - vb).abs() <= 1e-7 * scale) {
                return false;
            }
        }
    }
    true
}

/// Picks, for every root, the input form (source 0) or the extracted form (source 1) so that
/// the combined, hash-consed DAG is small: the better of all-input and all-extracted, then
/// single-root switches while they help (a local search; a handful of passes at most).
fn choose_roots(input: &Dag, extracted: &Dag) -> (Dag, usize) {
    let sources = [input, extracted];
    let n = input.roots.len();
    let mut best_choice = vec![1usize; n];
    let mut best = merge(&sources, &best_choice);
    let all_input = merge(&sources, &vec![0; n]);
    if all_input.len() < best.len() {
        best = all_input;
        best_choice = vec![0; n];
    }
    let mut improved = true;
    let mut passes = 0;
    while improved && passes < 4 {
        improved = false;
        passes += 1;
        for r in 0..n {
            let mut choice = best_choice.clone();
            choice[r] = 1 - choice[r];
            let candidate = merge(&sources, &choice);
            if candidate.len() < best.len() {
                best = candidate;
                best_choice = choice;
                improved = true;
            }
        }
    }
    let from_input = best_choice.iter().filter(|&&c| c == 0).count();
    (best, from_input)
}

/// Builds one hash-consed DAG whose root `r` is copied from `sources[choice[r]]`.
fn merge(sources: &[&Dag; 2], choice: &[usize]) -> Dag {
    let mut builder = DagBuilder::default();
    let mut maps: [Vec<Option<NodeId>>; 2] =
        [vec![None; sources[0].len()], vec![None; sources[1].len()]];
    let mut roots = Vec::with_capacity(choice.len());
    for (r, &which) in choice.iter().enumerate() {
        let src = sources[which];
        let root = src.roots[r];
        roots.push(copy_subtree(src, root, &mut builder, &mut maps[which]));
    }
    Dag {
        nodes: builder.nodes,
        roots,
    }
}

/// Copies the nodes `root` depends on (those not copied yet) into `builder`, children first.
/// `src` is a valid DAG built by this crate, so children precede parents.
fn copy_subtree(
    src: &Dag,
    root: NodeId,
    builder: &mut DagBuilder,
    map: &mut [Option<NodeId>],
) -> NodeId {
    let root = root as usize;
    let mut need = vec![false; root + 1];
    need[root] = true;
    for i in (0..=root).rev() {
        if need[i] && map[i].is_none() {
            for c in src.nodes[i].children() {
                need[c as usize] = true;
            }
        }
    }
    for i in 0..=root {
        if need[i] && map[i].is_none() {
            let node = src.nodes[i].map_children(|c| map[c as usize].unwrap_or(c));
            map[i] = Some(builder.push(node));
        }
    }
    map[root].unwrap_or_default()
}

/// Walks from the roots through the best e-node of each e-class and appends one DAG node per
/// e-class, children before parents. E-classes reached from several roots become one node.
fn extract_dag(
    egraph: &EGraph,
    extractor: &Extractor<'_, SizeCost<'_>, Math, ConstantFold>,
    roots: &[Id],
    resolver: &Resolver<'_>,
) -> Result<Dag, SymbolicError> {
    let mut builder = DagBuilder::default();
    let mut done: HashMap<Id, NodeId> = HashMap::new();
    let mut stack: Vec<(Id, bool)> = Vec::new();
    let mut out_roots = Vec::with_capacity(roots.len());

    // The children that become DAG children: the exponent of an integer power is folded into
    // `PowI` and is not visited.
    let powi = |node: &Math| -> Option<(Id, i32)> {
        if let Math::Pow([a, k]) = node {
            let k = egraph[*k]
                .data
                .and_then(|k| small_integer(k.into_inner()))?;
            Some((*a, k))
        } else {
            None
        }
    };

    // The best tree of an e-class ignores what is already in the DAG. A class that is the
    // negation of a class already built costs one node as `Neg` of it, which is never more than
    // any other choice (only a leaf ties), so that choice wins. This is what makes
    // dm/dt = -(dM/dt) come out as one `Neg` on top of dM/dt even when the factored forms of
    // the two classes differ.
    let mut chosen: HashMap<Id, Math> = HashMap::new();
    let choose = |id: Id, done: &HashMap<Id, NodeId>| -> Math {
        let best = extractor.find_best_node(id);
        if best.is_leaf() {
            return best.clone();
        }
        egraph[id]
            .nodes
            .iter()
            .find_map(|n| match n {
                Math::Neg(c) if done.contains_key(&egraph.find(*c)) => {
                    Some(Math::Neg(egraph.find(*c)))
                }
                _ => None,
            })
            .unwrap_or_else(|| best.clone())
    };

    for &root in roots {
        stack.push((egraph.find(root), false));
        while let Some((id, expanded)) = stack.pop() {
            if done.contains_key(&id) {
                continue;
            }
            if !expanded {
                let node = choose(id, &done);
                chosen.insert(id, node.clone());
                stack.push((id, true));
                let children: Vec<Id> = match powi(&node) {
                    Some((a, _)) => vec![a],
                    None => node.children().to_vec(),
                };
                for child in children {
                    let child = egraph.find(child);
                    if !done.contains_key(&child) {
                        stack.push((child, false));
                    }
                }
                continue;
            }
            let node = chosen.get(&id).ok_or(SymbolicError::ExtractionCycle)?;
            let c = |i: Id| -> Result<NodeId, SymbolicError> {
                done.get(&egraph.find(i))
                    .copied()
                    .ok_or(SymbolicError::ExtractionCycle)
            };
            let dag_node = match node {
                Math::Num(v) => Node::Num(v.into_inner()),
                Math::Symbol(s) => resolver.resolve(s.as_str())?,
                Math::Add([a, b]) => Node::Add(c(*a)?, c(*b)?),
                Math::Sub([a, b]) => Node::Sub(c(*a)?, c(*b)?),
                Math::Mul([a, b]) => Node::Mul(c(*a)?, c(*b)?),
                Math::Div([a, b]) => Node::Div(c(*a)?, c(*b)?),
                Math::Neg(a) => Node::Neg(c(*a)?),
                Math::Pow([a, b]) => match powi(node) {
                    Some((_, k)) => Node::PowI(c(*a)?, k),
                    None => Node::Pow(c(*a)?, c(*b)?),
                },
                Math::Exp(a) => Node::Exp(c(*a)?),
                Math::Log(a) => Node::Log(c(*a)?),
                Math::Sin(a) => Node::Sin(c(*a)?),
                Math::Cos(a) => Node::Cos(c(*a)?),
                Math::Sqrt(a) => Node::Sqrt(c(*a)?),
            };
            let nid = builder.push(dag_node);
            done.insert(id, nid);
        }
        let root = egraph.find(root);
        out_roots.push(
            done.get(&root)
                .copied()
                .ok_or(SymbolicError::ExtractionCycle)?,
        );
    }
    Ok(Dag {
        nodes: builder.nodes,
        roots: out_roots,
    })
}
