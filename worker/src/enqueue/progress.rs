//! How a backfill shows its progress: a bar on a terminal (objects listed, jobs confirmed,
//! rate and ETA), plain log lines otherwise (counts only: keys may say something about a
//! person, counts never do).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The counts a backfill shows (over every target of the run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects listed.
    pub listed: u64,
    /// Objects skipped by the filters.
    pub skipped: u64,
    /// Jobs published (confirmed or not yet).
    pub published: u64,
    /// Jobs confirmed by the broker.
    pub confirmed: u64,
}

impl Counts {
    /// Both sets of counts together.
    pub fn plus(&self, o: &Counts) -> Counts {
        Counts {
            listed: self.listed + o.listed,
            skipped: self.skipped + o.skipped,
            published: self.published + o.published,
            confirmed: self.confirmed + o.confirmed,
        }
    }
}

/// How often log lines come without a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// A progress display.
pub enum Progress {
    /// A bar on stderr.
    Bar {
        /// The bar.
        bar: ProgressBar,
        /// `--limit`, which caps the bar's length.
        limit: Option<u64>,
        /// Whether this is a dry run (nothing is published: the bar counts matches).
        dry_run: bool,
    },
    /// `tracing` lines every [`LOG_EVERY`].
    Log {
        /// When the run started.
        started: Instant,
        /// When the last line was written.
        last: Instant,
        /// Whether this is a dry run.
        dry_run: bool,
    },
    /// Nothing (library callers, tests).
    Hidden,
}

impl Progress {
    /// A bar when stderr is a terminal, log lines otherwise.
    pub fn for_stderr(limit: Option<u64>, dry_run: bool) -> Self {
        if std::io::stderr().is_terminal() {
            let style = if dry_run {
                "{spinner} {elapsed_precise} listed {msg}"
            } else {
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} jobs confirmed · {rate} · \
                 ETA {eta} · {msg}"
            };
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(style)
                        .expect("a valid template")
                        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0} jobs/s", s.per_sec());
                        })
                        .progress_chars("=> "),
                );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::Bar {
                bar,
                limit,
                dry_run,
            }
        } else {
            let now = Instant::now();
            Progress::Log {
                started: now,
                last: now,
                dry_run,
            }
        }
    }

    /// Show `c`.
    pub fn update(&mut self, c: &Counts) {
        match self {
            Progress::Bar {
                bar,
                limit,
                dry_run,
            } => {
                // The bar's length is what is known to need a job so far: listed minus skipped
                // (the listing goes on while jobs are confirmed), capped by --limit.
                let eligible = c.listed.saturating_sub(c.skipped);
                let len = limit.map_or(eligible, |l| eligible.min(l));
                if *dry_run {
                    bar.set_message(format!("{} objects, {} match", c.listed, len));
                } else {
                    bar.set_length(len.max(c.confirmed));
                    bar.set_position(c.confirmed);
                    bar.set_message(format!("listed {}, skipped {}", c.listed, c.skipped));
                }
            }
            Progress::Log {
                started,
                last,
                dry_run,
            } => {
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    log_line(c, started.elapsed(), *dry_run);
                }
            }
            Progress::Hidden => {}
        }
    }

    /// The final state (a log line in any case, without a terminal).
    pub fn finish(&mut self, c: &Counts) {
        if let Progress::Log {
            started, dry_run, ..
        } = self
        {
            log_line(c, started.elapsed(), *dry_run);
            return;
        }
        self.update(c);
        if let Progress::Bar { bar, .. } = self {
            bar.finish();
        }
    }
}

fn log_line(c: &Counts, elapsed: Duration, dry_run: bool) {
    if dry_run {
        tracing::info!(
            listed = c.listed,
            skipped = c.skipped,
            "enqueue dry run progress"
        );
    } else {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            c.confirmed as f64 / secs
        } else {
            0.0
        };
        tracing::info!(
            listed = c.listed,
            skipped = c.skipped,
            published = c.published,
            confirmed = c.confirmed,
            jobs_per_sec = format!("{rate:.1}"),
            "enqueue progress"
        );
    }
}
