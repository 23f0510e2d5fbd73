//! `select_compare`: a select over 2 and over 16 pipes (`ipcm_host::Select`)
//! against crossbeam-channel's `Select` over as many channels, in one run,
//! interleaved and repeated; prints the median ns per operation and the
//! median of the per-repeat ratios.
//!
//! Each operation: one message is written to the last pipe (channel), then
//! a select over all of them takes it. One thread, so this is the cost of
//! the select itself (visiting every member, withdrawing the ones that
//! waited), not of a hand-off between threads.
//!
//! `cargo run --release -p ipcm-bench --bin select_compare [-- --quick]`

use crossbeam_channel::{Receiver, Sender};
use ipcm_bench::measure::median;
use ipcm_bench::noop::ns_per_op;
use ipcm_host::{Ipc, Pipe, Select};

const MSG: [u8; 64] = [0xA5; 64];

fn ipcm_select(pipes: &[Pipe], bufs: &mut [[u8; 64]]) {
    let last = pipes.len() - 1;
    pipes[last].write(&MSG).expect("room");
    let mut select = Select::new();
    for (pipe, buf) in pipes.iter().zip(bufs.iter_mut()) {
        select = select.read(pipe, buf);
    }
    let done = select.wait().expect("select");
    assert_eq!((done.index, done.result), (last, Ok(64)));
}

fn crossbeam_select(txs: &[Sender<[u8; 64]>], rxs: &[Receiver<[u8; 64]>]) {
    let last = rxs.len() - 1;
    txs[last].send(MSG).expect("room");
    let mut select = crossbeam_channel::Select::new();
    for rx in rxs {
        select.recv(rx);
    }
    let oper = select.select();
    let index = oper.index();
    let msg = oper.recv(&rxs[index]).expect("message");
    assert_eq!(index, last);
    std::hint::black_box(msg);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (iterations, repeats) = if quick { (2_000, 1) } else { (200_000, 7) };
    println!("| members | ipcm-host Select ns | crossbeam Select ns | ratio (median of repeats) |");
    println!("|---:|---:|---:|---:|");
    for members in [2usize, 16] {
        let ipc = Ipc::new();
        let pipes: Vec<Pipe> = (0..members)
            .map(|_| ipc.pipe(64, 4).create().expect("pipe"))
            .collect();
        let mut bufs = vec![[0u8; 64]; members];
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..members)
            .map(|_| crossbeam_channel::bounded::<[u8; 64]>(4))
            .unzip();
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats {
            let a = ns_per_op(iterations, || ipcm_select(&pipes, &mut bufs));
            let b = ns_per_op(iterations, || crossbeam_select(&txs, &rxs));
            ours.push(a);
            theirs.push(b);
            ratios.push(a / b);
        }
        println!(
            "| {members} | {:.0} | {:.0} | {:.2} |",
            median(&mut ours),
            median(&mut theirs),
            median(&mut ratios)
        );
        // Nothing left behind: every withdrawn member was freed.
        for pipe in &pipes {
            let info = pipe.info().expect("info");
            assert_eq!((info.queued, info.pending_readers), (0, 0));
        }
    }
}
