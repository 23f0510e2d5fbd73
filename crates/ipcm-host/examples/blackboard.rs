//! The blackboard pattern: a sensor thread publishes its latest reading;
//! a display polls the freshest value whenever it likes, and a logger waits
//! for each newer value (it may skip some: a blackboard keeps only the
//! latest).
//!
//! `cargo run -p ipcm-host --example blackboard`

use std::thread;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use ipcm_host::{Access, Blackboard, Error, Ipc, OnFull};

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Attitude {
    roll: f32,
    pitch: f32,
    yaw: f32,
}

fn main() -> Result<(), Error> {
    let sensor = Ipc::new();
    // Only the sensor's process may publish; anyone may read.
    let pipe = sensor
        .pipe(size_of::<Attitude>() + 8, 1)
        .name("attitude")
        .on_full(OnFull::DiscardOldest)
        .access(Access::OwnerWrites)
        .create()?;
    let board: Blackboard<Attitude> = Blackboard::from_pipe(pipe)?;

    let app = sensor.new_process();
    let logger = {
        let board: Blackboard<Attitude> = Blackboard::open(&app, "attitude")?;
        thread::spawn(move || -> Result<(), Error> {
            let mut seen = 0;
            while seen < 50 {
                let snapshot = board.wait_newer(seen)?;
                if snapshot.version % 10 == 0 {
                    println!("logger: version {} {:?}", snapshot.version, snapshot.value);
                }
                seen = snapshot.version;
            }
            Ok(())
        })
    };

    let display: Blackboard<Attitude> = Blackboard::open(&app, "attitude")?;
    assert_eq!(display.publish(&Attitude::zeroed()), Err(Error::Denied));

    for step in 1..=50 {
        let t = step as f32 / 10.0;
        board.publish(&Attitude {
            roll: t.sin(),
            pitch: t.cos(),
            yaw: t,
        })?;
        if step % 16 == 0
            && let Some(now) = display.latest()?
        {
            println!("display: version {} yaw {:.1}", now.version, now.value.yaw);
        }
        thread::sleep(Duration::from_millis(1));
    }
    logger.join().expect("logger thread")?;
    let info = board.pipe().info()?;
    println!(
        "published {}, replaced {}, holding {}",
        info.written, info.dropped, info.queued
    );
    Ok(())
}
