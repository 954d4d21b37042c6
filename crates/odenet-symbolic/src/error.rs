//! The typed errors of the symbolic stage.

/// Everything that can go wrong while resolving, simplifying or evaluating expressions.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SymbolicError {
    /// A name in an expression is none of the declared states, parameters or constants.
    #[error(
        "unknown name `{name}`: declare it as a state, a parameter or a constant, or fix the spelling"
    )]
    UnknownName { name: String },
    /// A name is declared in two of the lists (states, parameters, constants).
    #[error(
        "the name `{name}` is declared both as a {first} and as a {second}: rename one of them"
    )]
    AmbiguousName {
        name: String,
        first: &'static str,
        second: &'static str,
    },
    /// A literal (or a substituted value) is NaN or infinite.
    #[error("the number {value} is not finite: use a finite value")]
    NonFiniteNumber { value: f64 },
    /// The expression text does not parse.
    #[error("cannot parse the expression at byte {offset}: {message}{}", help.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Parse {
        offset: usize,
        len: usize,
        message: String,
        help: Option<String>,
    },
    /// A buffer passed to an evaluator has the wrong length.
    #[error(
        "the {what} buffer has {got} entries but the DAG needs {expected}: size it from the symbols"
    )]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A node refers to a child that does not come before it (the DAG order is broken).
    #[error(
        "node {node} refers to node {child}, which does not come before it: children must precede parents"
    )]
    ChildAfterParent { node: usize, child: usize },
    /// A leaf refers to a symbol index outside the symbol lists.
    #[error("node {node} refers to {kind} index {index}, but only {count} are declared")]
    SymbolOutOfRange {
        node: usize,
        kind: &'static str,
        index: usize,
        count: usize,
    },
    /// Extraction met an e-class whose chosen term depends on itself (an internal error of the
    /// cost function; it cannot happen with positive operator costs).
    #[error("extraction from the e-graph met a cycle: report this as a bug in odenet-symbolic")]
    ExtractionCycle,
    /// A root index is not a node of the DAG.
    #[error("root {root} points to node {node}, but the DAG has only {len} nodes")]
    RootOutOfRange {
        root: usize,
        node: usize,
        len: usize,
    },
}

impl From<odenet_spec::ExprError> for SymbolicError {
    fn from(e: odenet_spec::ExprError) -> Self {
        SymbolicError::Parse {
            offset: e.offset,
            len: e.len,
            message: e.message,
            help: e.help,
        }
    }
}
