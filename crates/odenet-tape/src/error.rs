//! Typed errors of the tape stage.

/// Why a DAG could not be compiled into a tape, or a feature library could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TapeError {
    #[error(
        "node {node} reads state {index}, but the system has only {nstates} states; declare the state or fix the index"
    )]
    StateOutOfRange {
        node: usize,
        index: u32,
        nstates: usize,
    },
    #[error(
        "node {node} reads parameter {index}, but the system has only {nparams} parameters; declare the parameter or fix the index"
    )]
    ParamOutOfRange {
        node: usize,
        index: u32,
        nparams: usize,
    },
    #[error(
        "node {node} reads constant {index}, but the system has only {nconsts} constants; declare the constant or fix the index"
    )]
    ConstOutOfRange {
        node: usize,
        index: u32,
        nconsts: usize,
    },
    #[error(
        "node {node} uses node {child} as an operand, but operands must come before their parent; order the dag children-first"
    )]
    ChildNotBefore { node: usize, child: u32 },
    #[error(
        "output {output} is node {node}, but the dag has only {nnodes} nodes; point every root at an existing node"
    )]
    RootOutOfRange {
        output: usize,
        node: u32,
        nnodes: usize,
    },
    #[error(
        "the tape would need {slots} value slots, more than the {max} a tape can address; split the system"
    )]
    TooLarge { slots: usize, max: usize },
    #[error(
        "the extra feature tape has {found} parameters, but extra features must not depend on parameters; write them in the states only"
    )]
    ExtraHasParams { found: usize },
    #[error(
        "the extra feature tape reads {found} constants, but extra features must not depend on per-experiment constants; write them in the states only"
    )]
    ExtraHasConsts { found: usize },
    #[error(
        "the extra feature tape is built for {found} states, but the library has {expected}; compile it with the library's state count"
    )]
    ExtraStateMismatch { expected: usize, found: usize },
    #[error(
        "a complete polynomial library of order {order} in {nstates} states has at least {count} terms, more than the limit of {max}; lower the order"
    )]
    TooManyFeatures {
        nstates: usize,
        order: u32,
        count: u128,
        max: usize,
    },
    #[error(
        "{found} constants were given, but the tape reads {expected}; pass one value per declared constant"
    )]
    ConstsLength { expected: usize, found: usize },
    #[error(
        "the tape has {noutputs} outputs for {nstates} states, but a right-hand side needs one output per state; write one equation per state"
    )]
    NotSquare { noutputs: usize, nstates: usize },
}
