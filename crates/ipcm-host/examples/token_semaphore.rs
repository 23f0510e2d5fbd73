//! The token-semaphore pattern: six workers share three "printers". A
//! worker takes a token to use one and gives it back when its permit drops;
//! never more than three print at once.
//!
//! `cargo run -p ipcm-host --example token_semaphore`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ipcm_host::{Error, Ipc, TokenSemaphore};

fn main() -> Result<(), Error> {
    let ipc = Ipc::new();
    let printers = TokenSemaphore::create(&ipc, Some("printers"), 3)?;
    let printing = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));

    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let printers = TokenSemaphore::open(&ipc, "printers");
            let (printing, most) = (Arc::clone(&printing), Arc::clone(&most));
            thread::spawn(move || -> Result<(), Error> {
                let printers = printers?;
                for job in 0..3 {
                    let permit = match printers.acquire_timeout(Duration::from_millis(1)) {
                        Ok(permit) => permit,
                        Err(Error::TimedOut) => {
                            println!("worker {worker}: all printers busy, waiting");
                            printers.acquire()?
                        }
                        Err(error) => return Err(error),
                    };
                    let now = printing.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    println!("worker {worker}: printing job {job} ({now} printing)");
                    thread::sleep(Duration::from_millis(2));
                    printing.fetch_sub(1, Ordering::SeqCst);
                    drop(permit); // the token goes back
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread")?;
    }
    println!(
        "at most {} of {} printers were busy; {} free now",
        most.load(Ordering::SeqCst),
        printers.permits(),
        printers.available()?
    );
    Ok(())
}
