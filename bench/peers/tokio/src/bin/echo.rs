//! echo: the Tokio echo server of bench/peers: a task per connection.
//!
//!     echo PORT current|multi [WORKERS]
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn serve(port: String) {
    let l = TcpListener::bind(format!("127.0.0.1:{}", port)).await.unwrap();
    loop {
        let (mut s, _) = match l.accept().await {
            Ok(x) => x,
            Err(_) => continue,
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = if args.get(2).map(|s| s.as_str()) == Some("multi") {
        let w = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(w)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    rt.unwrap().block_on(serve(args[1].clone()));
}
