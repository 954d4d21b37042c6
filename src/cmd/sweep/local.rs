//! Running a prepared sweep on this machine: a few `odenet sweep-task` processes at a time, each
//! with its log, and a one-line summary at the end.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::args::SweepArgs;

/// Runs every task on this machine, `--jobs` at a time, each `odenet sweep-task` its own
/// process; returns the exit status (0 when every fit converged).
pub(super) fn run_all(
    a: &SweepArgs,
    out: &Path,
    folders: &[String],
    threads: usize,
    exe: &Path,
) -> u8 {
    let n = folders.len();
    // Local: `jobs` tasks at a time, each its own process (a failing fit cannot take the others
    // down), with `threads` worker threads each.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = a.jobs.unwrap_or((cores / threads).max(1)).min(n);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let codes = Mutex::new(vec![None::<i32>; n]);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let dir = out.join("tasks").join(&folders[i]);
                    let t = Instant::now();
                    let log = std::fs::File::create(dir.join("log.txt"));
                    let mut cmd = std::process::Command::new(exe);
                    cmd.arg("sweep-task")
                        .arg(out)
                        .arg(i.to_string())
                        .arg("--threads")
                        .arg(threads.to_string())
                        .stdin(std::process::Stdio::null());
                    if let Ok(log) = log
                        && let Ok(log2) = log.try_clone()
                    {
                        cmd.stdout(log).stderr(log2);
                    }
                    let code = cmd.status().ok().and_then(|s| s.code());
                    if let Ok(mut c) = codes.lock() {
                        c[i] = code;
                    }
                    let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if !a.quiet {
                        let what = match code {
                            Some(0) => "ok".to_string(),
                            Some(1) => "not converged".to_string(),
                            Some(c) => format!("failed (exit {c}; see its log.txt)"),
                            None => "killed".to_string(),
                        };
                        eprintln!(
                            "[{k}/{n}] {}: {what} ({:.1} s)",
                            folders[i],
                            t.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let codes = codes.into_inner().unwrap_or_default();
    let ok = codes.iter().filter(|c| **c == Some(0)).count();
    let failed = codes.iter().filter(|c| !matches!(c, Some(0 | 1))).count();
    crate::cmd::out(&format!(
        "{n} tasks in {:.1} s ({jobs} at a time, {threads} thread{} each): {ok} converged, {} not converged, {failed} failed\nresults in {}; gather them with `odenet collect {}`\n",
        t0.elapsed().as_secs_f64(),
        if threads == 1 { "" } else { "s" },
        n - ok - failed,
        out.display(),
        out.display()
    ));
    if ok == n { 0 } else { 1 }
}
