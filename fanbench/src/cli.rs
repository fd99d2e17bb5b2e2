//! The command line: flags, their values and the checks clap cannot make.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, ValueEnum};
use fanbench::baselines::key_dispatch;
use fanbench::pipeline::mandel::MandelConfig;
use fanbench::Item;
use fanring::pinning::available_cores;
use fanring::{Dispatch, Order, Pinning, WaitStrategy};

pub const AFTER_HELP: &str = "\
The tables go to stdout, each group followed by a line naming the fastest row (throughput) or
the lowest latency (p50, p99) and how it compares with the next best and with the best row of
the other side (peers against fanring). A progress bar goes to stderr (only on a terminal; it
has no thread of its own), and so do the names of the files written (--json, --csv, --plot:
`wrote fan.csv, fan-latency.csv`). Bad flags and engine configuration errors exit with code 2.

CPU: every run is bracketed by the process's CPU clock (CLOCK_PROCESS_CPUTIME_ID: every
thread, user + system, threads that ended during the run included) and getrusage's context
switch counts. The throughput table shows cpu-s/M (CPU seconds per million items, which is
also µs of CPU per item) and cores (CPU seconds / wall seconds); the latency table cpu-µs/item,
cores and csw/item (voluntary + involuntary context switches per item, the proxy for futex
wake-ups); JSON and CSV carry all three for both (medians over the reps). With the sequential
baseline and --reps above 1, a block under the throughput table gives each fanring
configuration's items/s over the plain loop's round by round (rep k against rep k of the
sequential row; min, median, max), and JSON has the rounds (`vs_seq_rounds`): e.g.
`--measure throughput --workers 2 --work-ns 600 --baseline seq --reps 7`.

Open-loop latency (--measure latency, on by default): the source releases item i at its
scheduled time t0 + i/R and the consumer records (now - scheduled time), so a pipeline that
falls behind is charged for every item it delays (coordinated omission corrected, as wrk2
and HdrHistogram's corrected recording do). The pacer sleeps until its sleeps' measured lateness
plus 5 µs before the due time (its thread's timer slack set to 1 ns; a sleep wakes 6-22 µs
late on the development VMs) and yields until the due time, so items leave within a few µs
of their schedule: it never spins on a core the pipeline needs, but with less than that
lateness between items it keeps a core busy yielding, which the rows' CPU figures include; the paced source's own CPU alone at each --rate is printed under
the table. By default the table has the fixed rates 10000, 100000 and 1000000 items/s (quiet
inputs) and the --load fractions 0.1 and 0.5; --load rates are fractions of each
configuration's own saturation throughput (the same source unpaced, --items items), measured
first in the same run. Rows are interleaved rep by rep; p50/p99/p99.9 are medians over the
reps, max the largest of any rep. The latency rows: fanring (the builder's defaults,
.run(paced source)), fanring-lowlat (--lowlat-*), fanring-graph3 (the fanring row's farm, then
two more stages of W workers passing items on: a three-stage graph), crossbeam-seed,
rtrb-pipeline; with
--baseline stream/tokio/buffered/async (--features async) also fanring-stream (the fanring
row's engine, its Output read as a Stream on a current-thread tokio runtime on the main
thread), tokio-mpsc, buffered, buffer-unordered (the paced source on a thread of its own,
sending into the tokio channels with blocking_send).

Image rows (--measure rows, not in the default): a coarse-grained workload with real data.
Each item is a row of a Mandelbrot image: the source allocates its buffer (a Vec<u32> of the
row's pixels), a worker fills it with escape counts, the consumer sums and frees it. The
width is calibrated at start-up so that a row takes about --row-us (40 µs) here; --rows rows
(2048) per run. Rows: the plain loop on one thread (sequential, the reference), then for each
--workers: fanring (Engine::builder().workers(W).order(O).map(render), run or drive per
--mode, each --order, the builder's defaults otherwise), rayon-bridge (par_bridge, any order)
and crossbeam-seed (any order). Columns: rows/s, µs/row, vs seq (rows/s over the plain
loop's), cpu-µs/row, cores, csw/row. --csv writes FILE-rows.csv, --json `image_rows`.

Pipelines (--measure pipeline, not in the default): multi-stage workloads with real work,
each a source of N items, two to five stages and an ordered sink that checks the order and a
checksum (every run must equal the plain loop's, or fanbench panics). --pipelines picks them:
mandel (RustStreamBench's micro-bench: a square Mandelbrot image a row per item, stage 1 the
first ITER1 iterations of each pixel, stage 2 up to ITER2 more; one workload per --mandel
configuration), image (five filters over generated RGB images: saturation, emboss, gamma,
sharpen, grayscale; --images, --image-size), compress (text-like blocks: LZ4 compression,
then CRC-32 and framing, written in order; --blocks, --block-kib). Rows per workload: the plain
loop (every stage on one thread: the ratio base), then at each --workers W (threads per
stage): fanring (a graph of farms, Pipeline::then; stages fused onto one thread per worker
where the threads would outnumber the cores), fanring unfused (the same, Fusion::Never),
fanring chained (one engine per stage, each run_source on the previous Output), std
threads + crossbeam (W threads per stage on a shared bounded channel, reordered with a
BTreeMap), rayon par_bridge (a pool of W threads, collected, sorted by index), tokio pipeline
(mpsc channels, W tasks per stage on a runtime of W threads, reordered). Columns: items/s
(median of --reps interleaved rounds), µs/item, vs plain, cpu-µs/item, cores, csw/item, and *
on the fastest row at each W. --csv writes FILE-pipeline.csv, --json `pipeline`, --plot
FILE-pipeline.svg (a panel per workload, items/s against W).

Idle (--measure idle, not in the default): each latency configuration (fanring,
fanring-lowlat, crossbeam-seed) and the rtrb pipeline at each --latency-workers, on a source
that blocks on a channel, is fed 64 items 100 µs apart, then nothing for 10 ms: the CPU time
of every thread of the process in those 10 ms, as % of one core (median of --reps, and the
largest), and the context switches in them. --csv writes FILE-idle.csv, --json `idle`.

Examples:
  fanbench                                    # W=1,2,4, trivial and 1 µs work, latency at W=2
  fanbench --sweep --plot fan.svg --json fan.json
  fanbench --workers 2 --pin 0,1,1,- --wait yield --baseline all,rtrb
  fanbench --workers 4 --dispatch rr,least,key --order preserve --batch 16,64,256
  fanbench --measure throughput --workers 2 --work-ns 0,50,100,200,1000 --baseline alt
  fanbench --measure throughput --workers 2 --work-ns 600 --baseline seq --reps 7
  fanbench --measure latency --load 0.1,0.5,0.9 --latency-workers 1,2 --plot lat.svg
  fanbench --measure latency --rate 10000,100000,1000000 --latency-secs 1
  fanbench --measure rows --workers 1,2,4
  fanbench --measure idle --latency-workers 1,2
  fanbench --measure pipeline --workers 1,2,4 --reps 3
  fanbench --measure pipeline --pipelines mandel --mandel 2048:20+10,512:2000+1000 --workers 2
  fanbench --measure pipeline --pipelines image,compress --images 200 --image-size 256x256
  fanbench --workers 1,2,4 --baseline stream,tokio --work-ns 0 --mode thread --order any  (--features async)";

/// Benchmarks the fanring fan-out/fan-in engine against the seed pattern (Go's Split/Merge)
/// built on crossbeam-channel and on std::sync::mpsc, in the same run.
///
/// Every list flag takes comma-separated values; one table row is printed per combination of
/// --workers, --dispatch, --order, --batch and --work-ns, with the baselines (which have no
/// dispatch, order or batch settings) printed once per workers × work-ns.
#[derive(Parser, Debug)]
#[command(name = "fanbench", version, about, long_about, after_help = AFTER_HELP)]
pub struct Args {
    /// Worker counts to measure, e.g. `1,2,4`.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,

    /// Measure every worker count from 1 up to the number of cores available (replaces
    /// --workers).
    #[arg(long, conflicts_with = "workers")]
    pub sweep: bool,

    /// Items pushed through the pipeline per run.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub items: u64,

    /// Slots per ring or channel (every peer uses the same).
    #[arg(long, default_value_t = 1024)]
    pub capacity: usize,

    /// fanring batch sizes (items a stage moves before publishing), e.g. `16,64`.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    pub batch: Vec<usize>,

    /// How fanring's stages wait: busy = BusySpin, yield = SpinYield{64},
    /// park = SpinThenPark{64,16}, adaptive = WaitStrategy::ADAPTIVE (the engine's default),
    /// lowlat = WaitStrategy::LOW_LATENCY.
    #[arg(long, value_enum, default_value_t = WaitArg::Adaptive)]
    pub wait: WaitArg,

    /// Let --wait busy run with more threads than cores (the engine refuses it otherwise).
    #[arg(long)]
    pub allow_oversubscribed_spin: bool,

    /// fanring dispatch policies: rr = round-robin, least = least loaded, key = by a hash of
    /// the item.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "rr")]
    pub dispatch: Vec<DispatchArg>,

    /// fanring modes: drive = the caller's thread distributes and merges (`Pipeline::drive`,
    /// workers + 1 threads), thread = a distributor thread drains the source and the caller
    /// merges (`Pipeline::run`, workers + 2 threads).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "drive,thread"
    )]
    pub mode: Vec<ModeArg>,

    /// fanring output orders: any, preserve.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "any,preserve"
    )]
    pub order: Vec<OrderArg>,

    /// Busy work per item in nanoseconds (calibrated spin loop); 0 is a single multiply. A
    /// list is a work-size sweep (e.g. `0,50,100,200,1000`): with the sequential baseline and
    /// W = 2 measured, the smallest size from which on fanring beats the sequential loop is
    /// printed under the table and written to JSON (`break_even`).
    #[arg(long, value_delimiter = ',', default_value = "0,1000")]
    pub work_ns: Vec<u64>,

    /// fanring core pinning: `auto` (the engine's default), `none`, or explicit cores
    /// `D,W1,...,Wn,M`: the distributor's core, one core per worker, then the merger's core
    /// (the merger is this program's main thread here, which the engine never pins, so M is
    /// only checked). Write `-` for D or M to leave it unpinned, e.g. `0,1,1,-`. The number of
    /// worker cores must equal the worker count, so give a single --workers value. Baselines
    /// are never pinned.
    #[arg(long, default_value = "auto", value_parser = parse_pin)]
    pub pin: PinArg,

    /// Stamp about one item in N for the latency figures (1 = every item, 0 = no latency and
    /// no clock reads). The sample is picked by a hash of the item's index, so it does not
    /// line up with round-robin dispatch. Each stamped item costs two clock reads (on the
    /// distributing and on the merging thread, for every peer alike); a read can cost as
    /// much as moving an item through fanring, so stamping every item lowers the throughput
    /// of the fastest peers.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub latency_every: u64,

    /// Runs of each configuration; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub reps: u64,

    /// Baselines to measure alongside: none, crossbeam, std, rtrb (the hand-built rtrb ring
    /// pipeline), all (= crossbeam,std), seq (a plain loop on one thread, whatever W), rayon
    /// (`par_bridge` in a pool of W threads, unordered), pariter (`parallel_map` with W
    /// threads, ordered), alt (= seq,rayon,pariter). Several may be listed, e.g. `all,rtrb`.
    /// pariter is left out of the default to keep the default run short (it moves 0.4–2.5 M
    /// items/s here, so a million items take up to 2.5 s a run).
    ///
    /// The async rows (fanbench built with `--features async`): stream (fanring's `Output`
    /// read as a `Stream` on a current-thread tokio runtime on this thread, and the blocking
    /// `Output` with the same settings: `run`, round-robin, any order, batch 256, --capacity,
    /// the default wait), tokio (the same fan-out/fan-in from tokio `mpsc` channels and
    /// tasks), buffered (`buffered` and `buffer_unordered` over one `spawn_blocking` per item:
    /// about 0.1 M items/s here, so use --items 100000 or so), async (= stream,tokio,buffered).
    /// They join the throughput table and, as rows of their own, the latency table.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "all,seq,rayon"
    )]
    pub baseline: Vec<BaselineArg>,

    /// Tables to produce: throughput (closed loop: every configuration and baseline above),
    /// latency (open loop: paced source, see below), rows (image rows: a buffer allocated per
    /// item and about --row-us of work on it, fanring against the plain loop, rayon and the
    /// crossbeam seed at each --workers), idle (the CPU an idle pipeline burns: each latency
    /// configuration and the rtrb pipeline, fed a few items, then none for 10 ms), pipeline
    /// (multi-stage workloads with real work and an ordered sink, fanring against hand-built
    /// threads over crossbeam, rayon and tokio at each --workers: see --pipelines). The
    /// default is throughput,latency.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "throughput,latency"
    )]
    pub measure: Vec<MeasureArg>,

    /// Open-loop offered rates in items per second, e.g. `10000,1000000` (latency table).
    /// Default `10000,100000,1000000` (fixed, quiet rates: what each row costs per item while
    /// it mostly waits), run beside the default --load fractions.
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, value_name = "R")]
    pub rate: Option<Vec<f64>>,

    /// Open-loop offered loads as fractions of each configuration's saturation throughput,
    /// measured first in the same run, e.g. `0.1,0.5,0.9` (latency table). Default `0.1,0.5`
    /// unless --rate is given (then none: only the rates given).
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, value_name = "F")]
    pub load: Option<Vec<f64>>,

    /// Worker counts for the latency table.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub latency_workers: Vec<usize>,

    /// Length of each paced run in seconds (items = rate × seconds).
    #[arg(long, default_value_t = 0.5, value_parser = parse_positive, value_name = "S")]
    pub latency_secs: f64,

    /// Busy work per item in the latency table, nanoseconds (0 = a multiply).
    #[arg(long, default_value_t = 0, value_name = "NS")]
    pub latency_work_ns: u64,

    /// Image rows per run of the rows table (--measure rows).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    pub rows: u64,

    /// Work per image row, microseconds on average (rows table): the row width is
    /// calibrated at start-up so that rendering a row takes about this long here.
    #[arg(long, default_value_t = 40.0, value_parser = parse_positive, value_name = "US")]
    pub row_us: f64,

    /// Workloads of the pipeline table (--measure pipeline): mandel (Mandelbrot rows, two
    /// unbalanced stages: one workload per --mandel configuration), image (five image
    /// filters, a stage each), compress (LZ4 block compression, then CRC-32 and framing, an
    /// ordered writer).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "mandel,image,compress"
    )]
    pub pipelines: Vec<PipelineArg>,

    /// Mandelbrot configurations of the pipeline table, ROWS:ITER1+ITER2[xFRAMES]: a ROWS ×
    /// ROWS image a row per item, stage 1 the first ITER1 iterations of each pixel, stage 2 up
    /// to ITER2 more, the image FRAMES times per run. The default: fine-grained rows (about
    /// 30 µs each here, 4 frames) and mid-grained ones (about 120 µs, 2 frames).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2048:20+10x4,1024:200+100x2",
        value_name = "ROWS:I1+I2[xF]"
    )]
    pub mandel: Vec<MandelConfig>,

    /// Images per run of the pipeline table's image workload.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub images: u64,

    /// Size of each generated image, WIDTHxHEIGHT (or one number for a square), at least
    /// 3x3. At 96x96 the stages take about 30, 190, 6, 250 and 14 µs here.
    #[arg(long, default_value = "96x96", value_parser = parse_size, value_name = "WxH")]
    pub image_size: (u32, u32),

    /// Blocks per run of the pipeline table's compression workload.
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u64).range(1..))]
    pub blocks: u64,

    /// Size of each block, KiB (compressing 64 KiB takes about 90 µs here).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub block_kib: u32,

    /// What the allocator does with freed memory, in every table: keep = it stays in the
    /// process for reuse (glibc: `mallopt` sets M_TRIM_THRESHOLD to 1 GiB and
    /// M_MMAP_THRESHOLD to 32 MiB, its largest, so blocks up to 32 MiB come from the heap
    /// and are not mapped and unmapped on every use, as long-running servers set it); glibc =
    /// glibc's defaults: freed memory at the top of a heap goes back to the OS past a
    /// threshold that moves as the process runs, so rows that free an item on another thread
    /// than the one that allocated it pay page faults the plain loop may not (3.5–5.4 per 64
    /// KiB block in the compression pipeline, in a probe), and a row's figure depends on what
    /// ran before it. No effect off glibc.
    #[arg(long, value_enum, default_value_t = HeapArg::Keep)]
    pub heap: HeapArg,

    /// The latency-tuned fanring row (`fanring-lowlat`): batch (a run is only ever what is
    /// ready, so the engine's default 256 holds no item back).
    #[arg(long, default_value_t = 256)]
    pub lowlat_batch: usize,

    /// The latency-tuned fanring row: slots per ring.
    #[arg(long, default_value_t = 1024)]
    pub lowlat_capacity: usize,

    /// The latency-tuned fanring row: wait strategy (see --wait); by default the documented
    /// low-latency configuration, `Engine::builder().wait(WaitStrategy::LOW_LATENCY)`.
    #[arg(long, value_enum, default_value_t = WaitArg::Lowlat)]
    pub lowlat_wait: WaitArg,

    /// Also write every row and the machine description as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also write every throughput row as CSV to FILE (one row per implementation, mode,
    /// workers, dispatch, order, batch and work size), and the latency rows to a second CSV
    /// next to it: FILE-latency.csv (FILE's stem with `-latency`). A FILE without an
    /// extension gets `.csv` (as `--plot` gets `.svg`, `--json` `.json`).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Draw throughput against workers as SVG to FILE: a panel per work size (against the
    /// work size instead with a single worker count), one line per fanring configuration
    /// (solid; the 8 fastest if there are more) and per baseline (dashed), the legend below.
    /// With the latency table, p50 and p99 latency (a panel each) against the offered rate,
    /// one line per configuration and worker count, to a second SVG next to it:
    /// FILE-latency.svg.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeapArg {
    Keep,
    Glibc,
}

impl HeapArg {
    /// Sets the allocator's policy for the rest of the process (call it before any thread
    /// starts: `fanbench::process`); says what it set, for the header.
    pub fn apply(self) -> &'static str {
        use fanbench::process::{keep_freed_memory, GLIBC};
        match self {
            HeapArg::Glibc if GLIBC => "glibc's defaults (freed memory goes back to the OS)",
            HeapArg::Glibc => "the platform allocator's defaults",
            HeapArg::Keep if keep_freed_memory() => {
                "freed memory kept in the process (glibc: M_TRIM_THRESHOLD 1 GiB, \
                 M_MMAP_THRESHOLD 32 MiB)"
            }
            HeapArg::Keep if GLIBC => {
                "glibc refused the thresholds (mallopt): its defaults may hold"
            }
            HeapArg::Keep => "the platform allocator's defaults (--heap keep acts on glibc only)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WaitArg {
    Busy,
    Yield,
    Park,
    Adaptive,
    Lowlat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum DispatchArg {
    Rr,
    Least,
    Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ModeArg {
    Drive,
    Thread,
}

impl ModeArg {
    pub fn name(self) -> &'static str {
        match self {
            ModeArg::Drive => "drive",
            ModeArg::Thread => "thread",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum OrderArg {
    Any,
    Preserve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum BaselineArg {
    None,
    Crossbeam,
    Std,
    Rtrb,
    All,
    Seq,
    Rayon,
    Pariter,
    Alt,
    Stream,
    Tokio,
    Buffered,
    Async,
}

impl BaselineArg {
    /// Whether this value needs fanbench built with `--features async`.
    pub fn is_async(self) -> bool {
        matches!(
            self,
            BaselineArg::Stream | BaselineArg::Tokio | BaselineArg::Buffered | BaselineArg::Async
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum MeasureArg {
    Throughput,
    Latency,
    Rows,
    Idle,
    Pipeline,
}

/// A workload of the pipeline table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum PipelineArg {
    Mandel,
    Image,
    Compress,
}

/// `WxH` or `N` (a square), each at least 3.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let t = s.trim();
    let (w, h) = t.split_once(['x', 'X']).unwrap_or((t, t));
    let n = |v: &str| -> Result<u32, String> {
        v.trim()
            .parse()
            .ok()
            .filter(|&n| n >= 3)
            .ok_or_else(|| format!("`{s}`: expected WIDTHxHEIGHT, each at least 3"))
    };
    Ok((n(w)?, n(h)?))
}

/// A positive finite number.
pub fn parse_positive(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be a positive number"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinArg {
    Auto,
    None,
    Explicit {
        distributor: Option<usize>,
        workers: Vec<usize>,
        merger: Option<usize>,
    },
}

impl WaitArg {
    pub fn strategy(self) -> WaitStrategy {
        match self {
            WaitArg::Busy => WaitStrategy::BusySpin,
            WaitArg::Yield => WaitStrategy::SPIN_YIELD,
            WaitArg::Park => WaitStrategy::SPIN_THEN_PARK,
            WaitArg::Adaptive => WaitStrategy::ADAPTIVE,
            WaitArg::Lowlat => WaitStrategy::LOW_LATENCY,
        }
    }
}

impl DispatchArg {
    pub fn name(self) -> &'static str {
        match self {
            DispatchArg::Rr => "rr",
            DispatchArg::Least => "least",
            DispatchArg::Key => "key",
        }
    }

    pub fn dispatch(self) -> Dispatch<Item> {
        match self {
            DispatchArg::Rr => Dispatch::RoundRobin,
            DispatchArg::Least => Dispatch::LeastLoaded,
            DispatchArg::Key => key_dispatch(),
        }
    }
}

impl OrderArg {
    pub fn name(self) -> &'static str {
        match self {
            OrderArg::Any => "any",
            OrderArg::Preserve => "preserve",
        }
    }

    pub fn order(self) -> Order {
        match self {
            OrderArg::Any => Order::Any,
            OrderArg::Preserve => Order::Preserve,
        }
    }
}

impl PinArg {
    pub fn pinning(&self) -> Pinning {
        match self {
            PinArg::Auto => Pinning::Auto,
            PinArg::None => Pinning::None,
            PinArg::Explicit {
                distributor,
                workers,
                merger,
            } => Pinning::Explicit {
                distributor: *distributor,
                workers: workers.clone(),
                merger: *merger,
            },
        }
    }
}

/// `auto`, `none` or `D,W1,...,Wn,M` with every core one this process may run on.
pub fn parse_pin(s: &str) -> Result<PinArg, String> {
    match s.trim() {
        "auto" => return Ok(PinArg::Auto),
        "none" => return Ok(PinArg::None),
        _ => {}
    }
    let cores = available_cores();
    let core = |t: &str, optional: bool| -> Result<Option<usize>, String> {
        let t = t.trim();
        if optional && t == "-" {
            return Ok(None);
        }
        let c: usize = t
            .parse()
            .map_err(|_| format!("`{t}` is not a core number (format: D,W1,...,Wn,M)"))?;
        if !cores.contains(&c) {
            return Err(format!("core {c} does not exist (available: {cores:?})"));
        }
        Ok(Some(c))
    };
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() < 3 {
        return Err(
            "expected `auto`, `none` or D,W1,...,Wn,M (distributor, one core per worker, merger)"
                .into(),
        );
    }
    let (d, rest) = parts.split_first().expect("3 parts");
    let (m, ws) = rest.split_last().expect("2 parts");
    Ok(PinArg::Explicit {
        distributor: core(d, true)?,
        workers: ws
            .iter()
            .map(|w| core(w, false).map(|c| c.expect("not optional")))
            .collect::<Result<_, _>>()?,
        merger: core(m, true)?,
    })
}

/// Checks what clap cannot: combinations of flags. Errors go out the clap way (exit code 2).
pub fn validate(args: &Args, workers: &[usize]) {
    let fail = |msg: String| -> ! {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit()
    };
    if let PinArg::Explicit { workers: ws, .. } = &args.pin {
        if let Some(w) = workers.iter().find(|&&w| w != ws.len()) {
            fail(format!(
                "--pin names {} worker core(s) but {w} workers are to be measured; \
                 give a single matching --workers value",
                ws.len()
            ));
        }
    }
    if !cfg!(feature = "async") {
        if let Some(b) = args.baseline.iter().find(|b| b.is_async()) {
            let name = b
                .to_possible_value()
                .map_or(String::new(), |v| v.get_name().to_string());
            fail(format!(
                "--baseline {name} needs fanbench built with the `async` feature: \
                 cargo run --release -p fanbench --features async -- --baseline {name} ..."
            ));
        }
    }
    if args.baseline.contains(&BaselineArg::None) && args.baseline.len() > 1 {
        fail("--baseline none cannot be combined with other baselines".into());
    }
    let lat_or_idle =
        args.measure.contains(&MeasureArg::Latency) || args.measure.contains(&MeasureArg::Idle);
    if lat_or_idle && args.latency_workers.contains(&0) {
        fail("--latency-workers must be at least 1".into());
    }
    if args.measure.contains(&MeasureArg::Rows) && workers.contains(&0) {
        fail("--workers must be at least 1 for the rows table".into());
    }
    if args.measure.contains(&MeasureArg::Pipeline) && workers.contains(&0) {
        fail("--workers must be at least 1 for the pipeline table".into());
    }
    for (flag, list) in [
        ("--workers", workers),
        ("--latency-workers", &args.latency_workers[..]),
    ] {
        if let Some(w) = list
            .iter()
            .enumerate()
            .find_map(|(k, w)| list[..k].contains(w).then_some(w))
        {
            fail(format!(
                "{flag} lists {w} more than once; each worker count is measured once a round \
                 (--reps sets the rounds)"
            ));
        }
    }
}
