//! `odenet export MODEL.json --to latex|python|sympy|julia|rust|c [-o FILE] [--full-precision]`

use odenet_report::ModelFile;
use odenet_report::export::{Lang, Precision, export};

use crate::CliError;
use crate::args::ExportArgs;

pub fn run(a: ExportArgs) -> Result<u8, CliError> {
    let lang = Lang::from_name(&a.to).ok_or_else(|| {
        CliError::input(format!(
            "error: --to {:?} is not a language odenet exports\n  = help: choose one of {}",
            a.to,
            Lang::ALL.map(Lang::name).join(", ")
        ))
    })?;
    let path = &a.model;
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::input(format!(
            "error: cannot read the model file {}: {e}\n  = help: give the model file written by `odenet fit SPEC -o model.json`",
            path.display()
        ))
    })?;
    let model = ModelFile::parse(&text)
        .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
    let precision = if a.full_precision {
        Precision::Full
    } else {
        Precision::StandardError
    };
    let code = export(&model, lang, precision)
        .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
    match &a.output {
        Some(out) => crate::output::write_atomic(out, code.as_bytes()).map_err(|e| CliError {
            message: format!("error: cannot write {}: {e}", out.display()),
            code: 2,
        })?,
        None => print!("{code}"),
    }
    Ok(0)
}
