//! `states` and `hidden`: the model's state variables and which of them have no data.

use super::checker::{Checker, Entry, find};

/// Returns the states and whether the list is complete and sound (when it is not, checks that
/// name states are skipped rather than reported against a wrong list).
pub(super) fn parse_states(ck: &mut Checker<'_>, top: &[Entry<'_, '_>]) -> (Vec<String>, bool) {
    let mut states: Vec<String> = Vec::new();
    let Some(e) = find(top, "states") else {
        ck.err_file(
            "missing `states`",
            Some(
                "list the state variables at the top of the spec, e.g. `states = [\"x\", \"y\"]`"
                    .into(),
            ),
        );
        return (states, false);
    };
    let Some(arr) = ck.array(e.value, "`states`") else {
        return (states, false);
    };
    let mut ok = true;
    if arr.is_empty() {
        ck.err(
            e.value.span(),
            "`states` is empty",
            Some("list the state variables, e.g. `states = [\"x\", \"y\"]`".into()),
        );
        ok = false;
    }
    for item in arr.iter() {
        let Some(s) = ck.string(item, "each state") else {
            ok = false;
            continue;
        };
        if !ck.check_name(s, item.span(), "state") {
            ok = false;
            continue;
        }
        if states.iter().any(|x| x == s) {
            ck.err(
                item.span(),
                format!("state `{s}` is listed twice"),
                Some("remove one of them".into()),
            );
            continue;
        }
        states.push(s.to_string());
    }
    (states, ok)
}

pub(super) fn parse_hidden(
    ck: &mut Checker<'_>,
    top: &[Entry<'_, '_>],
    states: &[String],
    states_ok: bool,
) -> Vec<bool> {
    let mut hidden = vec![false; states.len()];
    let Some(e) = find(top, "hidden") else {
        return hidden;
    };
    let Some(arr) = ck.array(e.value, "`hidden`") else {
        return hidden;
    };
    ck.origins.hidden = Some(ck.location(e.value.span()));
    for item in arr.iter() {
        let Some(s) = ck.string(item, "each hidden state") else {
            continue;
        };
        match states.iter().position(|x| x == s) {
            Some(i) if hidden[i] => ck.err(
                item.span(),
                format!("hidden state `{s}` is listed twice"),
                Some("remove one of them".into()),
            ),
            Some(i) => hidden[i] = true,
            None if states_ok => ck.err(
                item.span(),
                format!("hidden state `{s}` is not one of the states"),
                Some(format!(
                    "the states are: {}; add it to `states` or remove it from `hidden`",
                    states.join(", ")
                )),
            ),
            None => {}
        }
    }
    if states_ok && !hidden.is_empty() && hidden.iter().all(|&h| h) {
        ck.err(
            e.value.span(),
            "every state is hidden, so no data can be compared with the model",
            Some(
                "remove at least one observed state from `hidden` and give it a data column".into(),
            ),
        );
    }
    hidden
}
