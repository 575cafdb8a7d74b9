//! The memory a process set is compared by. Summed RSS counts every page a process maps, so a
//! multi-process server counts its shared memory once per process: a PostgreSQL of 96 MiB PSS read
//! 958 MiB RSS in the committed runs, and an implementation with one database process would look
//! ten times leaner for no reason. PSS splits each shared page between the processes that map it,
//! so summed over a process tree it counts each page once. The sampler reads both
//! (`resources.csv`); this module gives the peak PSS of each measured window, which `compare`
//! compares wherever both sides have it.

use stack_record::{ResourceRow, Stat, Window};

use super::stats::stat;

/// `process`'s peak PSS in each of `windows`, over the repeats; `None` when a window has no PSS
/// reading of it (a container is read by `docker stats`, which gives none).
pub fn pss_max(rows: &[ResourceRow], windows: &[Window], process: &str) -> Option<Stat> {
    let peaks: Option<Vec<f64>> = windows
        .iter()
        .map(|window| {
            rows.iter()
                .filter(|row| row.process == process && window.holds(row))
                .filter_map(|row| row.pss_bytes)
                .max()
                .map(|bytes| bytes as f64)
        })
        .collect();
    peaks.filter(|peaks| !peaks.is_empty()).map(|peaks| stat(&peaks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repeat: u32, t_s: f64, process: &str, rss_bytes: u64, pss_bytes: Option<u64>) -> ResourceRow {
        ResourceRow {
            repeat,
            t_s,
            process: process.into(),
            cpu_percent: 0.0,
            rss_bytes,
            pss_bytes,
            interval_s: 1.0,
        }
    }

    fn window(repeat: u32) -> Window {
        Window {
            repeat,
            start_s: 0.0,
            end_s: 2.0,
        }
    }

    #[test]
    fn each_window_gives_its_peak_pss_not_its_rss() {
        // Given a server whose RSS counts its shared buffers in every process, 10 times its PSS
        let rows = [
            row(1, 0.0, "postgres", 1000, Some(90)),
            row(1, 1.0, "postgres", 1000, Some(100)),
            row(2, 0.0, "postgres", 1000, Some(120)),
            row(2, 0.0, "userservice", 50, Some(40)),
        ];
        // When its memory is taken over two repeats
        let pss = pss_max(&rows, &[window(1), window(2)], "postgres").expect("PSS was read");
        // Then each repeat's peak PSS is one run of the figure
        assert_eq!(pss.runs, vec![100.0, 120.0]);
    }

    #[test]
    fn a_window_without_a_pss_reading_gives_no_pss() {
        let rows = [
            row(1, 0.0, "postgres", 1000, Some(90)),
            row(2, 0.0, "postgres", 1000, None),
        ];
        assert_eq!(pss_max(&rows, &[window(1), window(2)], "postgres"), None);
        assert_eq!(pss_max(&rows, &[], "postgres"), None);
    }
}
