//! Printing: an expression as infix text with the fewest parentheses that parse back to the
//! same tree, and numbers the way a user would write them.

use std::fmt;

use super::Expr;

impl Expr {
    /// Binding strength for printing: higher binds tighter (sums 1, products 2, negation 3,
    /// powers 4, atoms 5). Other printers of expressions (the code exports) place their
    /// parentheses by it too.
    pub fn prec(&self) -> u8 {
        match self {
            Expr::Add(..) | Expr::Sub(..) => 1,
            Expr::Mul(..) | Expr::Div(..) => 2,
            Expr::Neg(..) => 3,
            // A negative literal prints with a leading minus, so it binds like a negation.
            Expr::Num(v) if v.is_sign_negative() => 3,
            Expr::Pow(..) => 4,
            Expr::Num(_) | Expr::Var(_) | Expr::Call(..) => 5,
        }
    }
}

/// Writes `e`, in parentheses when its binding strength is below `min`.
fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.prec() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// Formats a number the way a user would write it: whole numbers without a trailing `.0`,
/// otherwise the shortest text that reads back to the same f64, switching to exponent notation
/// for very small or large values (`1e-7`), which the parser accepts.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:?}")
    }
}

fn write_num(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    f.write_str(&format_number(v))
}

/// Infix with the fewest parentheses that parse back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) => write_num(f, *v),
            Expr::Var(n) => f.write_str(n),
            Expr::Neg(a) => {
                f.write_str("-")?;
                write_operand(f, a, 3)
            }
            Expr::Add(a, b) | Expr::Sub(a, b) => {
                write_operand(f, a, 1)?;
                f.write_str(if matches!(self, Expr::Add(..)) {
                    " + "
                } else {
                    " - "
                })?;
                // Both operators are left-associative: a right operand at the same level needs
                // parentheses to keep its grouping.
                write_operand(f, b, 2)
            }
            Expr::Mul(a, b) | Expr::Div(a, b) => {
                write_operand(f, a, 2)?;
                f.write_str(if matches!(self, Expr::Mul(..)) {
                    "*"
                } else {
                    "/"
                })?;
                write_operand(f, b, 3)
            }
            Expr::Pow(a, b) => {
                // The base must be an atom: `(-x)^2` and `(a^b)^c` keep their parentheses.
                write_operand(f, a, 5)?;
                f.write_str("^")?;
                // The exponent is parsed as a unary expression, so `x^-2` and `a^b^c` need none.
                write_operand(f, b, 3)
            }
            Expr::Call(func, a) => write!(f, "{}({a})", func.name()),
        }
    }
}
