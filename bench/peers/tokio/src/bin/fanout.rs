//! fanout: the Tokio side of the fanout workload of bench/peers: TASKS
//! tasks (default 1000) each running ITERS iterations (default 590000) of
//! the integer loop of weft_fanout.c inline (tokio::spawn, not
//! spawn_blocking), on a multi_thread runtime of WORKERS worker threads
//! (default 2), spawned then awaited; prints wall_ms and the checksum (the
//! sum of the results, as weft_fanout does).
//!
//!     fanout [ITERS [TASKS [WORKERS]]]
use std::time::Instant;

/// A multiply-add and a shift-xor, each step using the last.
fn crunch(mut x: u64, iters: u64) -> u64 {
    for _ in 0..iters {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x ^= x >> 29;
    }
    x
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (iters, n, workers) = (arg(1, 590000), arg(2, 1000), arg(3, 2));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers as usize)
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let mut hs = Vec::with_capacity(n as usize);
        for i in 0..n {
            hs.push(tokio::spawn(async move { crunch(i + 1, iters) }));
        }
        let mut sum = 0u64;
        for h in hs {
            sum = sum.wrapping_add(h.await.unwrap());
        }
        println!("wall_ms {:.1}", start.elapsed().as_secs_f64() * 1000.0);
        println!("checksum {}", sum);
    });
}
