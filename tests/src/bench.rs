//! What the cost benchmarks (`bench_cost`, `bench_floor`) share: the images they upload and
//! the `/proc` readings they report.

use crate::{Truth, passport_png};

/// A valid PNG of about `bytes` bytes with `truth` embedded: the tiny passport PNG with a
/// private ancillary chunk of padding before its end (decoders skip it; the size is real).
pub fn padded_png(truth: &Truth, bytes: usize) -> Vec<u8> {
    let png = passport_png(truth);
    let (head, tail) = png.split_at(png.len() - 12); // IEND chunk
    let pad = vec![0x5au8; bytes.saturating_sub(png.len() + 12)];
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(head);
    out.extend_from_slice(&(pad.len() as u32).to_be_bytes());
    out.extend_from_slice(b"paDd");
    out.extend_from_slice(&pad);
    out.extend_from_slice(&[0, 0, 0, 0]); // a CRC readers of ancillary chunks do not check
    out.extend_from_slice(tail);
    out
}

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15: the 12th and 13th after the comm.
    let field = |i: usize| -> anyhow::Result<f64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat has {} fields after comm", f.len()))?
            .parse()?)
    };
    let ticks = field(11)? + field(12)?;
    Ok(ticks / clock_ticks_per_second())
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; read rather than assumed).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `VmHWM` of `pid`, in MB.
pub fn peak_rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM"))?
        .parse()?;
    Ok(kb / 1024.0)
}

/// Context switches so far (voluntary + involuntary) of each live thread of `pid`, by thread
/// id. A thread that has exited is no longer listed: its switches are lost.
pub fn context_switches(pid: u32) -> anyhow::Result<std::collections::HashMap<u64, u64>> {
    let mut by_thread = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?;
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        // A thread may exit between the listing and the read.
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let switches = status
            .lines()
            .filter_map(|l| {
                l.strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            })
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum::<u64>();
        by_thread.insert(tid, switches);
    }
    Ok(by_thread)
}

/// Switches between two readings of [`context_switches`], thread by thread (a thread born
/// in between counts from 0; one that exited in between is lost).
fn switches_since(
    before: &std::collections::HashMap<u64, u64>,
    after: &std::collections::HashMap<u64, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

/// The median: the middle value, or the mean of the two middle values of an even count
/// (`NaN` for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One run's readings of a measured process, from [`Meter::start`] to [`Meter::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Wall time of the run.
    pub secs: f64,
    /// utime + stime per job, µs.
    pub cpu_us_per_job: f64,
    /// Context switches of all its threads per job.
    pub switches_per_job: f64,
    /// `VmHWM`, MB.
    pub peak_rss_mb: f64,
    /// Jobs ÷ wall time.
    pub jobs_per_sec: f64,
}

impl Reading {
    /// The line a benchmark prints for run `run` of `who` (`worker`, `job loop`).
    pub fn line(&self, run: usize, jobs: usize, image_kb: usize, who: &str) -> String {
        format!(
            "run {run}: {jobs} jobs of {image_kb} KB in {:.2} s ({:.0} jobs/s); {who} CPU \
             {:.0} µs/job; {:.1} thread switches/job; peak RSS {:.1} MB",
            self.secs,
            self.jobs_per_sec,
            self.cpu_us_per_job,
            self.switches_per_job,
            self.peak_rss_mb
        )
    }

    /// Medians over runs: CPU per job, peak RSS, jobs/s.
    pub fn medians(runs: &[Reading]) -> (f64, f64, f64) {
        let of = |f: fn(&Reading) -> f64| median(runs.iter().map(f).collect());
        (
            of(|r| r.cpu_us_per_job),
            of(|r| r.peak_rss_mb),
            of(|r| r.jobs_per_sec),
        )
    }
}

/// The counters of a process at the start of a run.
pub struct Meter {
    pid: u32,
    cpu: f64,
    switches: std::collections::HashMap<u64, u64>,
    start: std::time::Instant,
}

impl Meter {
    /// Read `pid`'s counters now.
    pub fn start(pid: u32) -> anyhow::Result<Meter> {
        Ok(Meter {
            pid,
            cpu: cpu_seconds(pid)?,
            switches: context_switches(pid)?,
            start: std::time::Instant::now(),
        })
    }

    /// What `jobs` jobs cost since [`Meter::start`].
    pub fn finish(self, jobs: usize) -> anyhow::Result<Reading> {
        let secs = self.start.elapsed().as_secs_f64();
        let n = jobs as f64;
        Ok(Reading {
            secs,
            cpu_us_per_job: (cpu_seconds(self.pid)? - self.cpu) / n * 1e6,
            switches_per_job: switches_since(&self.switches, &context_switches(self.pid)?) as f64
                / n,
            peak_rss_mb: peak_rss_mb(self.pid)?,
            jobs_per_sec: n / secs,
        })
    }
}

/// The arguments both cost benchmarks take: `[JOBS] [RUNS] [IMAGE_KB] [PREFETCH]`, and what
/// follows them.
pub struct CostArgs {
    /// Jobs published at once per run (1 500).
    pub jobs: usize,
    /// Runs (3, at least 1).
    pub runs: usize,
    /// Size of each image, KB (300).
    pub image_kb: usize,
    /// Deliveries held at once (32).
    pub prefetch: usize,
    /// Arguments after the four.
    pub rest: Vec<String>,
}

impl CostArgs {
    /// From the command line.
    pub fn from_env() -> anyhow::Result<CostArgs> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let at = |i: usize, default: usize| -> anyhow::Result<usize> {
            Ok(args.get(i).map_or(Ok(default), |s| s.parse())?)
        };
        let a = CostArgs {
            jobs: at(0, 1500)?,
            runs: at(1, 3)?,
            image_kb: at(2, 300)?,
            prefetch: at(3, 32)?,
            rest: args.iter().skip(4).cloned().collect(),
        };
        anyhow::ensure!(a.runs > 0, "RUNS must be at least 1");
        Ok(a)
    }
}
