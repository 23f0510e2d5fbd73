//! The benchmark-only park-cost emulation: the waiting strategy re-measures
//! the park cost under it, so it plans as on a machine with dearer parks.
//! (A test binary of its own: the emulation slows every park in the
//! process.)
#![cfg(feature = "emulate-park-cost")]

use std::time::Duration;

use ipcm_host::{Ipc, emulate_park_cost};

#[test]
fn an_emulated_park_cost_is_measured_and_planned_with_and_can_be_undone() {
    // An extra cost below the measurement's bound on one wake (500 µs; a
    // dearer one reads as about that bound, which plans the same: a spin
    // never lasts past 100 µs).
    let extra = Duration::from_micros(300);
    let cheap = emulate_park_cost(Duration::ZERO);
    let dear = emulate_park_cost(extra);
    assert!(dear >= extra, "measured under the emulation: {dear:?}");
    // Once per cost: going back returns the first figure, not a new one.
    assert_eq!(emulate_park_cost(Duration::ZERO), cheap);
    assert_eq!(emulate_park_cost(extra), dear);

    // Pipes still work, parks and all, while parks are dear.
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 8];
            (0..20).map(|_| pipe.read(&mut buf).unwrap()).sum::<usize>()
        })
    };
    for _ in 0..20 {
        pipe.write(&[7; 8]).unwrap();
    }
    assert_eq!(reader.join().unwrap(), 160);
    emulate_park_cost(Duration::ZERO);
}
