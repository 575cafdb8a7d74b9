//! Honest hops, on the real system: a server-side p99 is interpolated within a histogram bucket, so
//! the record gives that bucket with it. The server times a subset of what k6 times for the same
//! requests (k6 adds the network and its own stack), so the server's true p99 is at most k6's: the
//! bucket it lies in never starts above k6's p99, though the interpolated figure may read above it.

#[allow(dead_code)]
mod bench_process;

use bench_process::{build_services, BenchFolder};

#[test]
fn the_server_side_p99_lies_in_a_bucket_that_starts_at_or_below_k6s_p99() {
    // Given the local system under S3's open-loop load (500 updates/s for 30 s, each with three
    // downstream calls)
    build_services();
    let folder = BenchFolder::new("server-hops");
    // When it is measured
    folder.run_bench(
        &[
            "--profile",
            "open",
            "--scenarios",
            "s3",
            "--warmup",
            "0",
            "--no-build",
        ],
        &[],
    );
    // Then productservice's end-to-end p99 comes with its bucket, which holds the p99 and starts at
    // or below k6's p99 for the same requests; and each downstream hop's p99 comes with its bucket
    let results = folder.results();
    let s3 = &results.scenarios["s3"];
    let client_p99 = s3.p99_ms.as_ref().expect("k6's p99 (15,000 samples)").mean;
    let hops = s3.hops.as_ref().expect("S3's hops");
    let end_to_end = &hops.end_to_end;
    let bucket = end_to_end.p99_bucket.expect("the p99's bucket");
    eprintln!(
        "server p99 {} ms in {bucket:?}, k6's p99 {client_p99} ms",
        end_to_end.p99_ms
    );
    assert!(bucket.from_ms <= end_to_end.p99_ms, "{end_to_end:?}");
    assert!(
        bucket.to_ms.is_none_or(|to| end_to_end.p99_ms <= to),
        "{end_to_end:?}"
    );
    assert!(
        bucket.from_ms <= client_p99,
        "{end_to_end:?} against k6's {client_p99} ms"
    );
    assert_eq!(hops.downstream.len(), 3, "{hops:?}");
    assert!(
        hops.downstream.iter().all(|hop| hop.p99_bucket.is_some()),
        "{hops:?}"
    );
}
