//! `--emit slurm`: the Slurm job-array script that runs a prepared sweep on a cluster.

use std::path::Path;

use crate::CliError;
use crate::args::SweepArgs;

/// Writes `DIR/sweep.slurm`, a Slurm job-array script with one array task per fit, and says how
/// to submit it.
pub(super) fn emit(
    a: &SweepArgs,
    out: &Path,
    n: usize,
    threads: usize,
    exe: &Path,
) -> Result<u8, CliError> {
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| CliError {
        message: format!("error: cannot create {}: {e}", logs.display()),
        code: 2,
    })?;
    let limit = a.jobs.map(|j| format!("%{j}")).unwrap_or_default();
    let script = format!(
        "#!/usr/bin/env bash\n\
         # odenet sweep of {manifest}: {n} fits as one Slurm job array.\n\
         # Submit:   sbatch {script}\n\
         # Gather:   odenet collect {dir}\n\
         # Each array task runs one fit: `odenet sweep-task DIR INDEX` writes DIR/tasks/*/model.json.\n\
         #SBATCH --job-name=odenet-sweep\n\
         #SBATCH --array=0-{last}{limit}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={threads}\n\
         #SBATCH --output={logs}/%A_%a.log\n\
         set -euo pipefail\n\
         : \"${{SLURM_ARRAY_TASK_ID:?this is a Slurm job-array script: submit it with sbatch}}\"\n\
         odenet=\"${{ODENET:-{exe}}}\"\n\
         exec \"$odenet\" sweep-task {dir_q} \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{threads}}}\"\n",
        manifest = a.manifest.display(),
        script = out.join("sweep.slurm").display(),
        dir = out.display(),
        last = n - 1,
        logs = logs.display(),
        exe = exe.display(),
        dir_q = sh_quote(&out.to_string_lossy()),
    );
    let path = out.join("sweep.slurm");
    crate::output::write_atomic(&path, script.as_bytes()).map_err(|e| CliError {
        message: format!("error: cannot write {}: {e}", path.display()),
        code: 2,
    })?;
    crate::cmd::out(&format!(
        "{n} tasks prepared in {}\nSlurm job-array script: {}\nsubmit it with `sbatch {}`, then gather with `odenet collect {}`\n",
        out.display(),
        path.display(),
        path.display(),
        out.display()
    ));
    Ok(0)
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
