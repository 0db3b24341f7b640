//! sleepers: N Tokio tasks (default 100000) each sleeping 100 ms on a
//! current_thread runtime, spawned then awaited; prints wall_ms.
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            hs.push(tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        println!("wall_ms {:.1}", start.elapsed().as_secs_f64() * 1000.0);
    });
}
