//! `mpirun -n N odenet fit SPEC …` (cargo feature `mpi`): one fit shared by N processes.
//!
//! Every process loads the spec and the data and runs the same deterministic fit; each
//! evaluation of the loss, gradient and Gauss–Newton matrix is divided among them by fixed
//! chunks of pieces (balanced by label count), each process evaluating its chunks with its own
//! threads, and the per-piece and per-chunk results are gathered to every process
//! (`MPI_Allgatherv`) and summed in chunk order (`odenet_fit::partition`): the result is
//! bit-identical for any number of processes and threads. Only rank 0 prints and writes files;
//! a failure on any process (bad input, a fit error) is agreed on collectively and reported by
//! rank 0 with its located message, and a panic on any process aborts them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

use crate::CliError;

/// The MPI world of this process, when it was started by an MPI launcher.
pub struct World {
    rank: usize,
    size: usize,
    _universe: mpi::environment::Universe,
}

/// Environment variables by which MPI launchers (Open MPI, PMIx, MPICH's Hydra, Slurm's srun)
/// tell a process that it is one of a group: without one, MPI is not initialised at all.
const LAUNCHER_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"];

/// Initialises MPI when this process was started by `mpirun`/`srun`; None otherwise (then the
/// binary behaves exactly as one built without the feature).
pub fn init() -> Option<World> {
    if !LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
        return None;
    }
    // Only the thread running the fit calls MPI, one call at a time.
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)?;
    let world = universe.world();
    let w = World {
        rank: world.rank() as usize,
        size: world.size() as usize,
        _universe: universe,
    };
    if w.size > 1 {
        // A panic on one process would leave the others waiting in a collective: end them all.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            SimpleCommunicator::world().abort(101);
        }));
    }
    Some(w)
}

impl World {
    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.size
    }
}

/// The fit's evaluations shared over `MPI_COMM_WORLD`.
struct Gather {
    rank: usize,
    size: usize,
    stats: GatherStats,
}

/// What the gathers of one process cost: their number, the bytes each process received, and
/// the wall-clock time spent inside them (transfer plus waiting for slower processes).
#[derive(Default)]
struct GatherStats {
    calls: AtomicU64,
    bytes: AtomicU64,
    nanos: AtomicU64,
}

impl Gather {
    fn new(world: &World) -> Self {
        Gather {
            rank: world.rank,
            size: world.size,
            stats: GatherStats::default(),
        }
    }

    /// With `ODENET_MPI_STATS` set, each process prints one line on stderr: its gathers, the
    /// bytes it received and the seconds it spent in them (the figures of benches/README.md).
    fn report(&self, what: &str) {
        if std::env::var_os("ODENET_MPI_STATS").is_none() {
            return;
        }
        let s = &self.stats;
        // One write per line, so that the launcher does not interleave the processes' lines.
        let line = format!(
            "mpi-stats {what} rank {} of {}: gathers {} bytes {} seconds {:.6}\n",
            self.rank,
            self.size,
            s.calls.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed),
            s.nanos.load(Ordering::Relaxed) as f64 * 1e-9
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}

fn mpi_count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or_else(|_| {
        eprintln!(
            "error: one gather of {n} values exceeds MPI's count limit (2^31 - 1); use more processes or fewer, longer pieces (`segment`)"
        );
        SimpleCommunicator::world().abort(2)
    })
}

impl odenet_fit::Partition for Gather {
    fn ranks(&self) -> usize {
        self.size
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn all_gather(&self, local: &[f64], counts: &[usize], out: &mut [f64]) {
        let world = SimpleCommunicator::world();
        let c: Vec<i32> = counts.iter().map(|&n| mpi_count(n)).collect();
        let mut displs = Vec::with_capacity(c.len());
        let mut at = 0usize;
        for &n in counts {
            displs.push(mpi_count(at));
            at += n;
        }
        let t = Instant::now();
        let mut part = PartitionMut::new(out, c, displs);
        world.all_gather_varcount_into(local, &mut part);
        let st = &self.stats;
        st.nanos.fetch_add(
            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        st.calls.fetch_add(1, Ordering::Relaxed);
        st.bytes
            .fetch_add(std::mem::size_of_val(out) as u64, Ordering::Relaxed);
    }
}

/// Every process's outcome of a step, agreed on collectively: when any process failed, every
/// process returns the failure of the lowest failing rank (so that rank 0 can report it).
fn agree<T>(r: Result<T, CliError>) -> Result<T, CliError> {
    let world = SimpleCommunicator::world();
    let size = world.size() as usize;
    let (code, msg) = match &r {
        Ok(_) => (0i32, Vec::new()),
        Err(e) => (i32::from(e.code.max(1)), e.message.as_bytes().to_vec()),
    };
    let mut codes = vec![0i32; size];
    world.all_gather_into(&code, &mut codes[..]);
    let Some(first) = codes.iter().position(|&c| c != 0) else {
        return r;
    };
    let mut lens = vec![0i32; size];
    world.all_gather_into(&(msg.len() as i32), &mut lens[..]);
    let total: usize = lens.iter().map(|&l| l as usize).sum();
    let mut all = vec![0u8; total];
    let mut displs = Vec::with_capacity(size);
    let mut at = 0i32;
    for &l in &lens {
        displs.push(at);
        at += l;
    }
    {
        let mut part = PartitionMut::new(&mut all[..], lens.clone(), displs.clone());
        world.all_gather_varcount_into(&msg[..], &mut part);
    }
    let start = displs[first] as usize;
    let text = String::from_utf8_lossy(&all[start..start + lens[first] as usize]).into_owned();
    let text = if first == 0 {
        text
    } else {
        format!("{text}\n  (on MPI rank {first} of {size})")
    };
    Err(CliError {
        message: text,
        code: codes[first] as u8,
    })
}

/// A fingerprint of what a fit found (every parameter's bits and the loss), to check that every
/// process ended with the same model.
fn fingerprint(res: &odenet_fit::FitResult) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in res.params.iter().chain([&res.loss]) {
        for b in v.to_bits().to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Sizes rayon's global pool (`--threads`; all cores when not given). A shared fit runs on the
/// main thread, outside the pool: only evaluators built there share their evaluations among the
/// processes, while those built on worker threads inside a parallel section (several refits at
/// once) are evaluated whole by every process (`odenet_fit::partition`). Inside
/// `ThreadPool::install` the fit would itself run on a worker and share nothing.
fn global_threads(threads: Option<usize>) -> Result<(), CliError> {
    let mut b = rayon::ThreadPoolBuilder::new().stack_size(crate::cmd::WORKER_STACK);
    if let Some(n) = crate::cmd::thread_count(threads)? {
        b = b.num_threads(n);
    }
    // Fails when the global pool already exists: it keeps its size then, and the result does
    // not depend on the thread count.
    let _ = b.build_global();
    Ok(())
}

/// `odenet fit` under `mpirun -n N` (N > 1).
pub fn fit(a: crate::args::FitArgs, world: &World) -> Result<u8, CliError> {
    let rank0 = world.rank == 0;
    crate::cmd::set_silent(!rank0);
    let loaded = agree((|| {
        let spec = crate::cmd::load_spec(&a.spec)?;
        let tables = crate::cmd::load_tables(&spec)?;
        crate::cmd::fit::check_tables(&a, &tables)?;
        Ok((spec, tables))
    })())?;
    let (spec, tables) = loaded;
    if rank0 && !a.quiet {
        eprintln!(
            "fitting on {} MPI processes, each evaluating its share of the pieces",
            world.size
        );
    }
    let gather = Arc::new(Gather::new(world));
    odenet_fit::distribute(Some(gather.clone()));
    // No Ctrl-C handling: a fit stopped at different evaluations on different processes would
    // leave them waiting for each other; the launcher ends every process on an interrupt.
    let never = AtomicBool::new(false);
    let res = agree(global_threads(a.threads)).and_then(|()| {
        odenet_fit::fit_with(&spec, &tables, &|_| {}, &never)
            .map_err(|e| CliError::input(format!("error: {e}")))
    });
    odenet_fit::distribute(None);
    gather.report("fit");
    let res = agree(res)?;
    let mine = fingerprint(&res);
    let world_comm = SimpleCommunicator::world();
    let mut all = vec![0u64; world.size];
    world_comm.all_gather_into(&mine, &mut all[..]);
    if let Some(r) = all.iter().position(|&f| f != mine) {
        return Err(CliError {
            message: format!(
                "error: MPI rank {r} ended with another model than rank {}; the processes must run the same odenet on the same files",
                world.rank
            ),
            code: 2,
        });
    }
    if !rank0 {
        return Ok(if res.converged { 0 } else { 1 });
    }
    crate::cmd::fit::finish(&a, &spec, &tables, &res)
}

/// `odenet bench` under `mpirun -n N` (N > 1): the evaluations it times are shared by the
/// processes (the scale figures in benches/README.md); rank 0 prints the table.
pub fn bench(a: crate::args::BenchArgs, world: &World) -> Result<u8, CliError> {
    if a.fit {
        return Err(CliError::input(
            "error: under mpirun, `odenet bench` times the shared evaluations only; drop --fit (time a whole fit with `mpirun … odenet fit`)",
        ));
    }
    crate::cmd::set_silent(world.rank != 0);
    let gather = Arc::new(Gather::new(world));
    odenet_fit::distribute(Some(gather.clone()));
    let r = agree(crate::cmd::bench::run(a));
    odenet_fit::distribute(None);
    gather.report("bench");
    r
}

/// Commands other than `fit` and `bench` are not shared among processes.
pub fn refuse(command: &str) -> CliError {
    CliError::input(format!(
        "error: under mpirun only `odenet fit` (and `odenet bench`) is shared among processes; run `odenet {command}` without mpirun"
    ))
}
