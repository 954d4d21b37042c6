//! Complete polynomial libraries (the paper's eq. 2) and their canonical monomial names.
//!
//! The canonical order is graded: `1`, then the states in declaration order, then degree 2
//! lexicographically with earlier states' exponents larger first (`x^2, x*y, x*z, y^2, y*z,
//! z^2`), and so on. A library of order p over d states has C(p+d, p) terms.

use odenet_spec::Expr;

/// All exponent vectors of total degree at most `order` over `nstates` states, in canonical
/// graded order.
pub fn monomials(nstates: usize, order: u32) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut current = vec![0u32; nstates];
    for degree in 0..=order {
        of_degree(&mut current, 0, degree, &mut out);
    }
    out
}

/// Appends every exponent vector whose entries from `index` on sum to `remaining`, with
/// earlier entries larger first.
fn of_degree(current: &mut [u32], index: usize, remaining: u32, out: &mut Vec<Vec<u32>>) {
    if index == current.len() {
        if remaining == 0 {
            out.push(current.to_vec());
        }
        return;
    }
    if index + 1 == current.len() {
        current[index] = remaining;
        out.push(current.to_vec());
        current[index] = 0;
        return;
    }
    for e in (0..=remaining).rev() {
        current[index] = e;
        of_degree(current, index + 1, remaining - e, out);
    }
    current[index] = 0;
}

/// The canonical name of a monomial: `"1"` for the constant, else the states with non-zero
/// exponents in state order, joined by `*`, powers as `^k` (`"x^2*z"`). Exponents beyond the
/// listed states are ignored.
pub fn monomial_name(exps: &[u32], states: &[String]) -> String {
    let parts: Vec<String> = exps
        .iter()
        .zip(states)
        .filter(|(e, _)| **e > 0)
        .map(|(&e, s)| {
            if e == 1 {
                s.clone()
            } else {
                format!("{s}^{e}")
            }
        })
        .collect();
    if parts.is_empty() {
        "1".to_string()
    } else {
        parts.join("*")
    }
}

/// Parses a canonical monomial name back into its exponent vector. Only the canonical
/// spelling is accepted (states in order, each once, no `^1` or `^0`, no spaces), so every
/// monomial has exactly one name that parses.
pub fn parse_monomial_name(name: &str, states: &[String]) -> Option<Vec<u32>> {
    let mut exps = vec![0u32; states.len()];
    if name != "1" {
        for factor in name.split('*') {
            let (state, power) = match factor.split_once('^') {
                Some((s, k)) => (s, k.parse::<u32>().ok()?),
                None => (factor, 1),
            };
            let i = states.iter().position(|s| s == state)?;
            exps[i] = exps[i].checked_add(power)?;
        }
    }
    (monomial_name(&exps, states) == name).then_some(exps)
}

/// The expression of a monomial: `1`, a state, `x^k`, or a left-to-right product of those.
pub fn monomial_expr(exps: &[u32], states: &[String]) -> Expr {
    let mut factors = exps
        .iter()
        .zip(states)
        .filter(|(e, _)| **e > 0)
        .map(|(&e, s)| {
            let v = Expr::Var(s.clone());
            if e == 1 {
                v
            } else {
                Expr::Pow(Box::new(v), Box::new(Expr::Num(f64::from(e))))
            }
        });
    let Some(first) = factors.next() else {
        return Expr::Num(1.0);
    };
    factors.fold(first, |acc, f| Expr::Mul(Box::new(acc), Box::new(f)))
}

/// The candidate terms of every equation in library mode: the complete polynomial library of
/// `order` over `states` in canonical order, followed by the `extra` terms. Returns the
/// feature expressions and their names (canonical monomial names; extras by their infix).
pub fn library_features(states: &[String], order: u32, extra: &[Expr]) -> (Vec<Expr>, Vec<String>) {
    let mut exprs = Vec::new();
    let mut names = Vec::new();
    for exps in monomials(states.len(), order) {
        exprs.push(monomial_expr(&exps, states));
        names.push(monomial_name(&exps, states));
    }
    for e in extra {
        names.push(crate::print::expr_to_infix(e));
        exprs.push(e.clone());
    }
    (exprs, names)
}

/// A library written out as one system: equation i is Σ_j θ_ij·φ_j with one parameter leaf
/// `theta_i_j` per (equation, feature). Returns the equations and the parameter names
/// (equation-major). This is the template-mode form of a library, used by benches and tests
/// of the symbolic stage.
pub fn library_system(states: &[String], order: u32) -> (Vec<Expr>, Vec<String>) {
    let (features, _) = library_features(states, order, &[]);
    let mut params = Vec::new();
    let mut equations = Vec::new();
    for i in 0..states.len() {
        let mut sum: Option<Expr> = None;
        for (j, phi) in features.iter().enumerate() {
            let name = format!("theta_{i}_{j}");
            let term = Expr::Mul(Box::new(Expr::Var(name.clone())), Box::new(phi.clone()));
            params.push(name);
            sum = Some(match sum {
                None => term,
                Some(acc) => Expr::Add(Box::new(acc), Box::new(term)),
            });
        }
        equations.push(sum.unwrap_or(Expr::Num(0.0)));
    }
    (equations, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn binomial(n: u64, k: u64) -> u64 {
        (1..=k).fold(1, |acc, i| acc * (n + 1 - i) / i)
    }

    #[test]
    fn counts_are_binomial() {
        for d in 0..=5usize {
            for p in 0..=6u32 {
                let m = monomials(d, p);
                assert_eq!(
                    m.len() as u64,
                    binomial(u64::from(p) + d as u64, u64::from(p)),
                    "d={d} p={p}"
                );
                let mut sorted = m.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), m.len(), "duplicates for d={d} p={p}");
                assert!(m.iter().all(|e| e.len() == d && e.iter().sum::<u32>() <= p));
            }
        }
        assert_eq!(monomials(3, 5).len(), 56);
    }

    #[test]
    fn canonical_order_and_names() {
        let s = states(&["x", "y", "z"]);
        let names: Vec<String> = monomials(3, 2)
            .iter()
            .map(|e| monomial_name(e, &s))
            .collect();
        assert_eq!(
            names,
            ["1", "x", "y", "z", "x^2", "x*y", "x*z", "y^2", "y*z", "z^2"]
        );
        let cubic: Vec<String> = monomials(2, 3)
            .iter()
            .map(|e| monomial_name(e, &s[..2]))
            .collect();
        assert_eq!(
            cubic,
            [
                "1", "x", "y", "x^2", "x*y", "y^2", "x^3", "x^2*y", "x*y^2", "y^3"
            ]
        );
        assert_eq!(monomial_name(&[2, 0, 1], &s), "x^2*z");
    }

    #[test]
    fn names_round_trip() {
        let s = states(&["P", "M", "m"]);
        for exps in monomials(3, 5) {
            let name = monomial_name(&exps, &s);
            assert_eq!(parse_monomial_name(&name, &s), Some(exps), "{name}");
        }
    }

    #[test]
    fn non_canonical_names_are_rejected() {
        let s = states(&["x", "y", "z"]);
        for bad in [
            "y*x", "x^1", "x^0", "x*x", "w", "", "x*", "x^", "x^-1", "x ^2", "2*x", "1*x",
        ] {
            assert_eq!(parse_monomial_name(bad, &s), None, "{bad:?}");
        }
    }

    #[test]
    fn features_are_monomials_then_extras() {
        let s = states(&["x", "y"]);
        let extra = [Expr::Call(
            odenet_spec::Func::Sin,
            Box::new(Expr::Var("x".into())),
        )];
        let (exprs, names) = library_features(&s, 2, &extra);
        assert_eq!(names, ["1", "x", "y", "x^2", "x*y", "y^2", "sin(x)"]);
        assert_eq!(exprs.len(), names.len());
        assert_eq!(
            exprs[4],
            Expr::Mul(
                Box::new(Expr::Var("x".into())),
                Box::new(Expr::Var("y".into()))
            )
        );
    }
}
