//! The rounding of fitted numbers to the digits their standard errors support, and their
//! printing as `value ± se`; shared by the exports, the printed summary and the report page.

use odenet_spec::format_number;

/// The rounding of fitted numbers: to their standard errors, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// Each coefficient to the digits its standard error supports ([`round_to_se`]).
    #[default]
    StandardError,
    /// Every digit (the shortest text that reads back to the same f64).
    Full,
}

/// Rounds `v` to the digits its standard error `se` supports: to the decimal place of the
/// second significant digit of `se`, keeping at least two significant digits of `v`. A NaN
/// `se` (not estimated: a fixed or pruned value) keeps every digit; an infinite one (the data
/// leave the value undetermined) keeps two significant digits.
pub fn round_to_se(v: f64, se: f64) -> f64 {
    if !v.is_finite() || v == 0.0 || se.is_nan() || se == 0.0 {
        return v;
    }
    let v_exp = v.abs().log10().floor() as i32;
    let place = if se.is_infinite() {
        v_exp - 1
    } else {
        ((se.abs().log10().floor() as i32) - 1).min(v_exp - 1)
    };
    round_at(v, place)
}

/// Rounds `v` to a multiple of 10^place, through decimal text so that the result prints as the
/// rounded digits (`27.987`, not `27.987000000000002`).
fn round_at(v: f64, place: i32) -> f64 {
    if place < 0 {
        let digits = (-place).min(20) as usize;
        format!("{v:.digits$}").parse().unwrap_or(v)
    } else {
        let text = format!("{:.0}e{place}", v / 10f64.powi(place));
        text.parse().unwrap_or(v)
    }
}

/// A standard error printed with two significant digits (`0.012`, `1.3e-5`), or a word when
/// it is not a finite number.
pub fn format_se(se: f64) -> String {
    if se.is_nan() {
        return String::new();
    }
    if se.is_infinite() {
        return "not determined".into();
    }
    if se == 0.0 {
        return "0".into();
    }
    let se = se.abs();
    let place = (se.log10().floor() as i32) - 1;
    if !(1e-3..1e5).contains(&se) {
        format!("{se:.1e}")
    } else if place < 0 {
        let digits = (-place) as usize;
        format!("{se:.digits$}")
    } else {
        format_number(round_at(se, place))
    }
}

/// `v` rounded to its standard error, with the trailing zeros the error makes significant
/// (`10.010` for 10.0099 ± 0.020); every digit when there is no error.
pub fn format_to_se(v: f64, se: f64) -> String {
    let r = round_to_se(v, se);
    if se.is_finite() && se > 0.0 && v.is_finite() && v != 0.0 {
        let v_exp = v.abs().log10().floor() as i32;
        let place = ((se.log10().floor() as i32) - 1).min(v_exp - 1);
        if place < 0 {
            let digits = (-place).min(20) as usize;
            return format!("{r:.digits$}");
        }
    }
    format_number(r)
}

/// `value ± se`, the value rounded to the standard error (full precision when there is none).
pub fn value_pm(v: f64, se: f64) -> String {
    let r = format_to_se(v, se);
    if se.is_finite() {
        format!("{r} ± {}", format_se(se))
    } else if se.is_infinite() {
        format!("{r} (not determined by the data)")
    } else {
        r
    }
}
