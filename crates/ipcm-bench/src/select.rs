//! A select over 2 and over 16 pipes (`ipcm_host::Select`) against
//! crossbeam-channel's `Select` over as many channels, interleaved and
//! repeated in one run, with the per-repeat ratios (DESIGN §9).
//!
//! Each operation: one message is written to the last pipe (channel), then
//! a select over all of them takes it. One thread, so this is the cost of
//! the select itself (visiting every member), not of a hand-off between
//! threads.

use std::fmt::Write as _;
use std::path::Path;

use crossbeam_channel::{Receiver, Sender};
use ipcm_host::{Ipc, Pipe, Select};

use crate::machine::Machine;
use crate::measure::median;
use crate::noop::ns_per_op;
use crate::plot::{Bar, Panel};

/// The member counts measured.
pub const MEMBERS: [usize; 2] = [2, 16];

const MSG: [u8; 64] = [0xA5; 64];

/// `members` pipes and a receive buffer for each.
pub struct IpcmSet {
    pipes: Vec<Pipe>,
    bufs: Vec<[u8; 64]>,
}

impl IpcmSet {
    /// `members` pipes of 4 messages of 64 B on one manager.
    ///
    /// # Panics
    /// If a pipe cannot be created.
    #[must_use]
    pub fn new(members: usize) -> Self {
        let ipc = Ipc::new();
        IpcmSet {
            pipes: (0..members)
                .map(|_| ipc.pipe(64, 4).create().expect("pipe"))
                .collect(),
            bufs: vec![[0; 64]; members],
        }
    }

    /// One write to the last pipe, then a select over all that takes it.
    ///
    /// # Panics
    /// If the select does not complete the last member with 64 bytes.
    pub fn once(&mut self) {
        let last = self.pipes.len() - 1;
        self.pipes[last].write(&MSG).expect("room");
        let mut select = Select::new();
        for (pipe, buf) in self.pipes.iter().zip(self.bufs.iter_mut()) {
            select.push_read(pipe, buf);
        }
        let done = select.wait().expect("select");
        assert_eq!((done.index, done.result), (last, Ok(64)));
    }

    /// Nothing is left behind: every pipe empty, no waiting reader (every
    /// withdrawn member was freed).
    ///
    /// # Panics
    /// If something is.
    pub fn check_clean(&self) {
        for pipe in &self.pipes {
            let info = pipe.info().expect("info");
            assert_eq!((info.queued, info.pending_readers), (0, 0));
        }
    }
}

/// `members` bounded crossbeam channels.
pub struct CrossbeamSet {
    txs: Vec<Sender<[u8; 64]>>,
    rxs: Vec<Receiver<[u8; 64]>>,
}

impl CrossbeamSet {
    /// `members` channels of 4 messages.
    #[must_use]
    pub fn new(members: usize) -> Self {
        let (txs, rxs) = (0..members)
            .map(|_| crossbeam_channel::bounded::<[u8; 64]>(4))
            .unzip();
        CrossbeamSet { txs, rxs }
    }

    /// As [`IpcmSet::once`].
    ///
    /// # Panics
    /// If the select does not take the last channel's message.
    pub fn once(&self) {
        let last = self.rxs.len() - 1;
        self.txs[last].send(MSG).expect("room");
        let mut select = crossbeam_channel::Select::new();
        for rx in &self.rxs {
            select.recv(rx);
        }
        let oper = select.select();
        let index = oper.index();
        let msg = oper.recv(&self.rxs[index]).expect("message");
        assert_eq!(index, last);
        std::hint::black_box(msg);
    }
}

/// One member count's figures: ns per select, per repeat.
#[derive(Clone, Debug)]
pub struct SelectFigures {
    /// Members of each select.
    pub members: usize,
    /// ipcm-host's ns per operation, one per repeat.
    pub ipcm: Vec<f64>,
    /// crossbeam-channel's, same repeats.
    pub crossbeam: Vec<f64>,
}

impl SelectFigures {
    /// The median of the per-repeat ratios ipcm-host ÷ crossbeam (> 1:
    /// ipcm-host slower).
    #[must_use]
    pub fn ratio(&self) -> f64 {
        let mut ratios: Vec<f64> = self
            .ipcm
            .iter()
            .zip(&self.crossbeam)
            .map(|(a, b)| a / b)
            .collect();
        median(&mut ratios)
    }
}

/// Measure every member count: `iterations` selects per repeat, the two
/// interleaved in each repeat.
#[must_use]
pub fn run_all(iterations: u64, repeats: usize) -> Vec<SelectFigures> {
    MEMBERS
        .iter()
        .map(|&members| {
            let mut ours = IpcmSet::new(members);
            let theirs = CrossbeamSet::new(members);
            let mut figures = SelectFigures {
                members,
                ipcm: Vec::new(),
                crossbeam: Vec::new(),
            };
            for _ in 0..repeats {
                figures.ipcm.push(ns_per_op(iterations, || ours.once()));
                figures
                    .crossbeam
                    .push(ns_per_op(iterations, || theirs.once()));
            }
            ours.check_clean();
            figures
        })
        .collect()
}

/// The report's section.
#[must_use]
pub fn markdown(figures: &[SelectFigures]) -> String {
    let mut out = String::from(
        "\n## Select: ipcm-host `Select` vs crossbeam-channel `Select`\n\n\
         One thread: a message is written to the last of N pipes (channels), then a select over all N takes \
         it. Medians of the repeats, interleaved; ratio = median of the per-repeat ratios ipcm-host ÷ \
         crossbeam (> 1: ipcm-host slower). Instruction counts: \
         `crates/ipcm-bench/scripts/callgrind.sh 64 select`.\n\n![select](select.png)\n\n\
         | members | ipcm-host ns | crossbeam ns | ratio |\n|---:|---:|---:|---:|\n",
    );
    for f in figures {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2}× |",
            f.members,
            median(&mut f.ipcm.clone()),
            median(&mut f.crossbeam.clone()),
            f.ratio()
        );
    }
    out
}

/// Draw `select.png` in `dir`: one panel per member count, ns per select
/// (log), the ratio beside crossbeam's bar.
///
/// # Errors
/// No font, or the file cannot be written.
pub fn plot(
    figures: &[SelectFigures],
    repeats: usize,
    machine: &Machine,
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let panels: Vec<Panel> = figures
        .iter()
        .map(|f| {
            let ours = median(&mut f.ipcm.clone());
            let theirs = median(&mut f.crossbeam.clone());
            Panel {
                title: format!("select over {} members", f.members),
                unit: "ns per write + select (log) · ratio ipcm-host ÷ peer, > 1: slower"
                    .to_owned(),
                log: true,
                bars: vec![
                    Bar {
                        channel: "ipcm-host",
                        value: ours,
                        label: format!("{ours:.0} ns  (subject)"),
                    },
                    Bar {
                        channel: "crossbeam-channel",
                        value: theirs,
                        label: format!("{theirs:.0} ns   {:.2}×", f.ratio()),
                    },
                ],
            }
        })
        .collect();
    let head = format!(
        "Select vs crossbeam's · {} · {repeats} repeats, shared machine",
        machine.describe()
    );
    crate::plot::png(&dir.join("select.png"), &head, &panels, 2)
}
