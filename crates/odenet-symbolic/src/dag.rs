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
