//! fetch: the reqwest peer of bench/peers.  N GETs of URL (default 2000),
//! INFLIGHT at a time (default 50), on a current_thread runtime with one
//! shared client (its connection pool keeps connections alive); prints
//! req_per_s for the whole of them.
//!
//!     fetch URL [N [INFLIGHT]]
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args[1].clone();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let inflight: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let start = Instant::now();
        let mut hs = Vec::new();
        for w in 0..inflight {
            let c = client.clone();
            let u = url.clone();
            let mine = n / inflight + usize::from(w < n % inflight);
            hs.push(tokio::spawn(async move {
                for _ in 0..mine {
                    let r = c.get(&u).send().await.expect("GET");
                    assert!(r.status().is_success());
                    r.bytes().await.expect("body");
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        let s = start.elapsed().as_secs_f64();
        println!("req_per_s {:.0}", n as f64 / s);
    });
}
