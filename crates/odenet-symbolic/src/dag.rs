//! The expression DAG: a flat vector of nodes, children before parents.

/// Index of a node in [`Dag::nodes`].
pub type NodeId = u32;

/// One node of the DAG. Children always have smaller indices than their parent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    Num(f64),
    /// A state x_i (index into `Symbols::states`).
    State(u32),
    /// A parameter θ_j (index into `Symbols::params`).
    Param(u32),
    /// A per-experiment constant (index into `Symbols::consts`).
    Const(u32),
    Add(NodeId, NodeId),
    Sub(NodeId, NodeId),
    Mul(NodeId, NodeId),
    Div(NodeId, NodeId),
    Neg(NodeId),
    /// a^b with a general exponent.
    Pow(NodeId, NodeId),
    /// a^k with an integer exponent.
    PowI(NodeId, i32),
    Exp(NodeId),
    Log(NodeId),
    Sin(NodeId),
    Cos(NodeId),
    Sqrt(NodeId),
}

/// The names the leaves refer to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Symbols {
    pub states: Vec<String>,
    pub params: Vec<String>,
    pub consts: Vec<String>,
}

/// A system of expressions sharing subexpressions: `roots[i]` is the i-th output
/// (the right-hand side of the i-th equation, or the i-th feature).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dag {
    pub nodes: Vec<Node>,
    pub roots: Vec<NodeId>,
}

use std::collections::HashMap;

use odenet_spec::{Expr, Func};

use crate::error::SymbolicError;
use crate::language::small_integer;

impl Node {
    /// The children of this node (none for leaves), in operand order.
    pub fn children(&self) -> impl Iterator<Item = NodeId> {
        let (a, b) = match *self {
            Node::Num(_) | Node::State(_) | Node::Param(_) | Node::Const(_) => (None, None),
            Node::Add(a, b)
            | Node::Sub(a, b)
            | Node::Mul(a, b)
            | Node::Div(a, b)
            | Node::Pow(a, b) => (Some(a), Some(b)),
            Node::Neg(a)
            | Node::PowI(a, _)
            | Node::Exp(a)
            | Node::Log(a)
            | Node::Sin(a)
            | Node::Cos(a)
            | Node::Sqrt(a) => (Some(a), None),
        };
        a.into_iter().chain(b)
    }

    /// The same operator with every child replaced by `f(child)`.
    pub fn map_children(self, mut f: impl FnMut(NodeId) -> NodeId) -> Node {
        match self {
            Node::Num(_) | Node::State(_) | Node::Param(_) | Node::Const(_) => self,
            Node::Add(a, b) => Node::Add(f(a), f(b)),
            Node::Sub(a, b) => Node::Sub(f(a), f(b)),
            Node::Mul(a, b) => Node::Mul(f(a), f(b)),
            Node::Div(a, b) => Node::Div(f(a), f(b)),
            Node::Pow(a, b) => Node::Pow(f(a), f(b)),
            Node::Neg(a) => Node::Neg(f(a)),
            Node::PowI(a, k) => Node::PowI(f(a), k),
            Node::Exp(a) => Node::Exp(f(a)),
            Node::Log(a) => Node::Log(f(a)),
            Node::Sin(a) => Node::Sin(f(a)),
            Node::Cos(a) => Node::Cos(f(a)),
            Node::Sqrt(a) => Node::Sqrt(f(a)),
        }
    }

    /// A hashable identity of the node (numbers by their bits), used for hash-consing.
    fn key(&self) -> (u8, u64, u64) {
        let u = |i: u32| u64::from(i);
        match *self {
            Node::Num(v) => (0, v.to_bits(), 0),
            Node::State(i) => (1, u(i), 0),
            Node::Param(i) => (2, u(i), 0),
            Node::Const(i) => (3, u(i), 0),
            Node::Add(a, b) => (4, u(a), u(b)),
            Node::Sub(a, b) => (5, u(a), u(b)),
            Node::Mul(a, b) => (6, u(a), u(b)),
            Node::Div(a, b) => (7, u(a), u(b)),
            Node::Neg(a) => (8, u(a), 0),
            Node::Pow(a, b) => (9, u(a), u(b)),
            // The exponent's bits are kept exactly; the cast through u32 is a bit reinterpretation.
            Node::PowI(a, k) => (10, u(a), u64::from(k as u32)),
            Node::Exp(a) => (11, u(a), 0),
            Node::Log(a) => (12, u(a), 0),
            Node::Sin(a) => (13, u(a), 0),
            Node::Cos(a) => (14, u(a), 0),
            Node::Sqrt(a) => (15, u(a), 0),
        }
    }
}

/// Which list a name was found in, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    State,
    Param,
    Const,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::State => "state",
            Kind::Param => "parameter",
            Kind::Const => "constant",
        }
    }
}

/// Name → leaf lookup built once from [`Symbols`]. A name declared twice is reported only
/// when an expression actually uses it.
pub(crate) struct Resolver<'a> {
    map: HashMap<&'a str, Result<Node, (Kind, Kind)>>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(syms: &'a Symbols) -> Self {
        let mut map: HashMap<&'a str, Result<Node, (Kind, Kind)>> = HashMap::new();
        let lists = [
            (Kind::State, &syms.states),
            (Kind::Param, &syms.params),
            (Kind::Const, &syms.consts),
        ];
        for (kind, names) in lists {
            for (i, name) in names.iter().enumerate() {
                // Symbol lists hold far fewer than 2^32 names; saturate rather than wrap.
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                let node = match kind {
                    Kind::State => Node::State(i),
                    Kind::Param => Node::Param(i),
                    Kind::Const => Node::Const(i),
                };
                map.entry(name.as_str())
                    .and_modify(|e| {
                        if let Ok(prev) = e {
                            *e = Err((kind_of(prev), kind));
                        }
                    })
                    .or_insert(Ok(node));
            }
        }
        Resolver { map }
    }

    pub(crate) fn resolve(&self, name: &str) -> Result<Node, SymbolicError> {
        match self.map.get(name) {
            Some(Ok(node)) => Ok(*node),
            Some(Err((first, second))) => Err(SymbolicError::AmbiguousName {
                name: name.to_string(),
                first: first.word(),
                second: second.word(),
            }),
            None => Err(SymbolicError::UnknownName {
                name: name.to_string(),
            }),
        }
    }
}

fn kind_of(node: &Node) -> Kind {
    match node {
        Node::State(_) => Kind::State,
        Node::Param(_) => Kind::Param,
        _ => Kind::Const,
    }
}

impl Symbols {
    /// The name of a leaf node (`None` for non-leaves and out-of-range indices).
    pub fn name(&self, node: &Node) -> Option<&str> {
        fn get(v: &[String], i: u32) -> Option<&str> {
            usize::try_from(i)
                .ok()
                .and_then(|i| v.get(i))
                .map(String::as_str)
        }
        match *node {
            Node::State(i) => get(&self.states, i),
            Node::Param(i) => get(&self.params, i),
            Node::Const(i) => get(&self.consts, i),
            _ => None,
        }
    }
}

/// Appends nodes with hash-consing: an identical node (same operator, same children, same
/// number bits) is stored once.
#[derive(Default)]
pub(crate) struct DagBuilder {
    pub(crate) nodes: Vec<Node>,
    index: HashMap<(u8, u64, u64), NodeId>,
}

impl DagBuilder {
    pub(crate) fn push(&mut self, node: Node) -> NodeId {
        let key = node.key();
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        // A DAG with more than 2^32 nodes cannot come from any expression this crate accepts
        // (the e-graph node limit is far smaller); saturating keeps this total.
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NodeId::MAX);
        self.nodes.push(node);
        self.index.insert(key, id);
        id
    }

    fn add_expr(&mut self, expr: &Expr, resolver: &Resolver<'_>) -> Result<NodeId, SymbolicError> {
        let node = match expr {
            Expr::Num(v) => {
                if !v.is_finite() {
                    return Err(SymbolicError::NonFiniteNumber { value: *v });
                }
                Node::Num(*v)
            }
            Expr::Var(name) => resolver.resolve(name)?,
            Expr::Neg(a) => Node::Neg(self.add_expr(a, resolver)?),
            Expr::Add(a, b) => Node::Add(self.add_expr(a, resolver)?, self.add_expr(b, resolver)?),
            Expr::Sub(a, b) => Node::Sub(self.add_expr(a, resolver)?, self.add_expr(b, resolver)?),
            Expr::Mul(a, b) => Node::Mul(self.add_expr(a, resolver)?, self.add_expr(b, resolver)?),
            Expr::Div(a, b) => Node::Div(self.add_expr(a, resolver)?, self.add_expr(b, resolver)?),
            Expr::Pow(a, b) => {
                let base = self.add_expr(a, resolver)?;
                match literal(b).and_then(small_integer) {
                    Some(k) => Node::PowI(base, k),
                    None => Node::Pow(base, self.add_expr(b, resolver)?),
                }
            }
            Expr::Call(f, a) => {
                let a = self.add_expr(a, resolver)?;
                match f {
                    Func::Exp => Node::Exp(a),
                    Func::Log => Node::Log(a),
                    Func::Sin => Node::Sin(a),
                    Func::Cos => Node::Cos(a),
                    Func::Sqrt => Node::Sqrt(a),
                }
            }
        };
        Ok(self.push(node))
    }
}

/// The value of a literal, also when written with a unary minus (`x^-1`).
fn literal(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num(v) => Some(*v),
        Expr::Neg(a) => literal(a).map(|v| -v),
        _ => None,
    }
}

/// Number of nodes of an expression tree (no sharing).
pub fn tree_size(expr: &Expr) -> usize {
    match expr {
        Expr::Num(_) | Expr::Var(_) => 1,
        Expr::Neg(a) | Expr::Call(_, a) => 1 + tree_size(a),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) | Expr::Pow(a, b) => {
            1 + tree_size(a) + tree_size(b)
        }
    }
}

impl Dag {
    /// Builds the DAG of a system without simplification: names are resolved through `syms`,
    /// identical subtrees are stored once (also across expressions), and `x^k` with a small
    /// integer literal `k` becomes [`Node::PowI`].
    pub fn from_exprs(exprs: &[Expr], syms: &Symbols) -> Result<Dag, SymbolicError> {
        let resolver = Resolver::new(syms);
        let mut b = DagBuilder::default();
        let roots = exprs
            .iter()
            .map(|e| b.add_expr(e, &resolver))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Dag {
            nodes: b.nodes,
            roots,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the DAG has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Checks the invariants: every child precedes its parent, every leaf index is within the
    /// symbol lists, and every root is a node.
    pub fn check(&self, syms: &Symbols) -> Result<(), SymbolicError> {
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(child) = node
                .children()
                .find(|&c| usize::try_from(c).map_or(true, |c| c >= i))
            {
                return Err(SymbolicError::ChildAfterParent {
                    node: i,
                    child: child as usize,
                });
            }
            let (kind, index, count) = match *node {
                Node::State(k) => ("state", k, syms.states.len()),
                Node::Param(k) => ("parameter", k, syms.params.len()),
                Node::Const(k) => ("constant", k, syms.consts.len()),
                _ => continue,
            };
            if index as usize >= count {
                return Err(SymbolicError::SymbolOutOfRange {
                    node: i,
                    kind,
                    index: index as usize,
                    count,
                });
            }
        }
        for (r, &node) in self.roots.iter().enumerate() {
            if node as usize >= self.nodes.len() {
                return Err(SymbolicError::RootOutOfRange {
                    root: r,
                    node: node as usize,
                    len: self.nodes.len(),
                });
            }
        }
        Ok(())
    }

    /// Reference evaluator: the value of every node into `values` (length [`Dag::len`]), in
    /// order. States, parameters and constants come from `x`, `p` and `c`.
    ///
    /// This is the plain, obviously-correct evaluator other stages test against; it checks
    /// every index and returns an error instead of panicking on a malformed DAG or short buffer.
    pub fn eval_nodes(
        &self,
        x: &[f64],
        p: &[f64],
        c: &[f64],
        values: &mut [f64],
    ) -> Result<(), SymbolicError> {
        if values.len() != self.nodes.len() {
            return Err(SymbolicError::LengthMismatch {
                what: "node value",
                expected: self.nodes.len(),
                got: values.len(),
            });
        }
        for i in 0..self.nodes.len() {
            let node = self.nodes[i];
            let leaf = |buf: &[f64], k: u32, what: &'static str| {
                buf.get(k as usize)
                    .copied()
                    .ok_or(SymbolicError::LengthMismatch {
                        what,
                        expected: k as usize + 1,
                        got: buf.len(),
                    })
            };
            let arg = |k: NodeId| -> Result<f64, SymbolicError> {
                if (k as usize) < i {
                    Ok(values[k as usize])
                } else {
                    Err(SymbolicError::ChildAfterParent {
                        node: i,
                        child: k as usize,
                    })
                }
            };
            let v = match node {
                Node::Num(v) => v,
                Node::State(k) => leaf(x, k, "state")?,
                Node::Param(k) => leaf(p, k, "parameter")?,
                Node::Const(k) => leaf(c, k, "constant")?,
                Node::Add(a, b) => arg(a)? + arg(b)?,
                Node::Sub(a, b) => arg(a)? - arg(b)?,
                Node::Mul(a, b) => arg(a)? * arg(b)?,
                Node::Div(a, b) => arg(a)? / arg(b)?,
                Node::Neg(a) => -arg(a)?,
                Node::Pow(a, b) => arg(a)?.powf(arg(b)?),
                Node::PowI(a, k) => arg(a)?.powi(k),
                Node::Exp(a) => arg(a)?.exp(),
                Node::Log(a) => arg(a)?.ln(),
                Node::Sin(a) => arg(a)?.sin(),
                Node::Cos(a) => arg(a)?.cos(),
                Node::Sqrt(a) => arg(a)?.sqrt(),
            };
            values[i] = v;
        }
        Ok(())
    }

    /// Reference evaluator of the roots into `out` (length `roots.len()`). Allocates its node
    /// buffer: it is the independent reference for the tape, not a hot path.
    pub fn eval(
        &self,
        x: &[f64],
        p: &[f64],
        c: &[f64],
        out: &mut [f64],
    ) -> Result<(), SymbolicError> {
        if out.len() != self.roots.len() {
            return Err(SymbolicError::LengthMismatch {
                what: "output",
                expected: self.roots.len(),
                got: out.len(),
            });
        }
        let mut values = vec![0.0; self.nodes.len()];
        self.eval_nodes(x, p, c, &mut values)?;
        for (r, (o, &root)) in out.iter_mut().zip(&self.roots).enumerate() {
            *o = *values
                .get(root as usize)
                .ok_or(SymbolicError::RootOutOfRange {
                    root: r,
                    node: root as usize,
                    len: self.nodes.len(),
                })?;
        }
        Ok(())
    }
}
