//! Event logs merged by event time with bounded memory: a k-way merge over one stream per
//! file, each passed through a small reorder window, so no log is read whole and nothing is
//! sorted globally.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use orthrus_events::{EventReader, MapContext, to_activity};
use orthrus_model::{Activity, Timestamp};
use orthrus_net::file_label;

use crate::{FileOutcome, FileResult, Progress};

/// Activities each log holds back to put records written slightly out of order back in
/// order. Windows appends a log's records as the event log service receives them, which is
/// within moments of their timestamps; a record later than this many activities is emitted
/// where it is, behind the merged timeline, and counted as late (`FileOutcome::Events::late`).
/// 4096 activities per log (a few MiB) hold seconds of a busy DC's log; the bound keeps
/// memory flat however many logs are merged.
pub const REORDER_WINDOW: usize = 4096;

/// One log's activities in event time order (within its window).
struct Stream {
    /// Where the log was among the inputs.
    position: usize,
    label: String,
    reader: EventReader,
    context: MapContext,
    /// Activities boxed, so keeping the window in order moves a few bytes, not activities (an
    /// activity is hundreds of bytes; a heap moves one a dozen times a pop), and a window of
    /// unboxed ones is megabytes the allocator grows in steps, copying, per log.
    window: BinaryHeap<Reverse<Held>>,
    /// Arrival order, which keeps equal times in file order.
    arrivals: u64,
    activities: u64,
    late: u64,
    exhausted: bool,
}

/// An activity held in a window, ordered by time then arrival.
struct Held {
    time: Timestamp,
    arrival: u64,
    activity: Box<Activity>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.arrival) == (other.time, other.arrival)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.arrival).cmp(&(other.time, other.arrival))
    }
}

impl Stream {
    /// Fills the window, then the time of the activity it would give next.
    fn next_time(&mut self) -> Option<Timestamp> {
        while !self.exhausted && self.window.len() < REORDER_WINDOW {
            match self.reader.next() {
                Some(event) => {
                    if let Some(activity) = to_activity(&event, &self.context) {
                        self.arrivals += 1;
                        self.window.push(Reverse(Held {
                            time: activity.time,
                            arrival: self.arrivals,
                            activity: Box::new(activity),
                        }));
                    }
                }
                None => self.exhausted = true,
            }
        }
        self.window.peek().map(|held| held.0.time)
    }

    fn pop(&mut self) -> Option<Activity> {
        let Reverse(held) = self.window.pop()?;
        self.activities += 1;
        Some(*held.activity)
    }
}

/// The activities of every event log, merged by event time.
pub struct EventMerge<'p> {
    streams: Vec<Stream>,
    /// (next time, stream) of every stream with activities left; ties go to the earlier file.
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Logs that could not be opened, with their place among the inputs.
    failed: Vec<(usize, FileResult)>,
    /// The latest time handed on: an activity earlier than it is late (counted to its log).
    latest: Option<Timestamp>,
    progress: &'p dyn Progress,
}

impl<'p> EventMerge<'p> {
    pub fn open(files: &[&PathBuf], threads: usize, progress: &'p dyn Progress) -> Self {
        let mut merge = EventMerge {
            streams: Vec::new(),
            heads: BinaryHeap::new(),
            failed: Vec::new(),
            latest: None,
            progress,
        };
        for (position, path) in files.iter().enumerate() {
            let label = file_label(path);
            progress.event_file(&label);
            match orthrus_events::open_file_where(path, &label, threads, orthrus_events::map::MAPPED) {
                Ok(reader) => merge.streams.push(Stream {
                    position,
                    label,
                    reader,
                    context: MapContext::default(),
                    window: BinaryHeap::new(),
                    arrivals: 0,
                    activities: 0,
                    late: 0,
                    exhausted: false,
                }),
                Err(e) => {
                    merge
                        .failed
                        .push((position, FileResult { label, outcome: FileOutcome::Failed(e.to_string()) }));
                    progress.event_file_done();
                }
            }
        }
        for index in 0..merge.streams.len() {
            merge.requeue(index);
        }
        merge
    }

    fn requeue(&mut self, index: usize) {
        let Some(stream) = self.streams.get_mut(index) else { return };
        match stream.next_time() {
            Some(time) => self.heads.push(Reverse((time, index))),
            None => self.progress.event_file_done(),
        }
    }

    /// Each log's outcome (once the merge is exhausted), in the order the logs were given,
    /// and how many could not be read.
    pub fn finish(self) -> (Vec<FileResult>, usize) {
        let failed = self.failed.len();
        let mut results = self.failed;
        for stream in self.streams {
            let summary = stream.reader.summary().clone();
            let outcome = FileOutcome::Events { summary, activities: stream.activities, late: stream.late };
            results.push((stream.position, FileResult { label: stream.label, outcome }));
        }
        results.sort_by_key(|(position, _)| *position);
        (results.into_iter().map(|(_, result)| result).collect(), failed)
    }
}

impl Iterator for EventMerge<'_> {
    type Item = Activity;

    fn next(&mut self) -> Option<Activity> {
        let Reverse((_, index)) = self.heads.pop()?;
        let stream = self.streams.get_mut(index)?;
        let activity = stream.pop()?;
        if self.latest.is_some_and(|latest| activity.time < latest) {
            stream.late += 1;
        } else {
            self.latest = Some(activity.time);
        }
        self.requeue(index);
        Some(activity)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::NoProgress;

    /// Over every real EVTX log of the corpus at once: every activity comes out once, in time
    /// order but for exactly those counted late, and each log's count is what reading it
    /// alone gives.
    #[test]
    fn logs_merge_in_time_order_and_every_step_back_is_counted() {
        let files = orthrus_testkit::corpus_evtx_files();
        let refs: Vec<&PathBuf> = files.iter().collect();
        let mut merge = EventMerge::open(&refs, 1, &NoProgress);
        let (mut count, mut steps_back, mut latest) = (0u64, 0u64, None::<Timestamp>);
        for activity in merge.by_ref() {
            count += 1;
            if latest.is_some_and(|t| activity.time < t) {
                steps_back += 1;
            }
            latest = latest.max(Some(activity.time));
        }
        let (results, failed) = merge.finish();
        assert_eq!(failed, 0);
        assert_eq!(results.len(), files.len());
        let (mut activities, mut late) = (0, 0);
        for (path, result) in files.iter().zip(&results) {
            let FileOutcome::Events { activities: n, late: l, .. } = result.outcome else {
                panic!("{}", result.label)
            };
            assert_eq!(result.label, file_label(path));
            let context = MapContext::default();
            let mut alone = 0;
            orthrus_events::read_file(path, "x", 1, &mut |e| {
                alone += u64::from(to_activity(&e, &context).is_some())
            })
            .unwrap();
            assert_eq!(n, alone, "{}", result.label);
            (activities, late) = (activities + n, late + l);
        }
        assert!(count > 1000, "{count} activities");
        assert_eq!(count, activities);
        // Real logs are written in time order: nothing is late.
        assert_eq!((steps_back, late), (0, 0));
    }

    /// A log that steps back in time by more than its window (a re-packed one that starts
    /// over on its chunks): the activities behind the merged timeline are counted late, each.
    #[test]
    fn a_log_further_out_of_order_than_its_window_is_counted_late() {
        let dir = tempfile::tempdir().unwrap();
        let sources = orthrus_testkit::corpus_evtx_files();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/repack-evtx.py");
        let made = std::process::Command::new("python3")
            .arg(script)
            .arg("--out")
            .arg(dir.path())
            .args(["--files", "1", "--mib", "24"])
            .args(&sources)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let log = dir.path().join("repacked-00.evtx");
        let mut merge = EventMerge::open(&[&log], 1, &NoProgress);
        let (mut steps_back, mut latest) = (0u64, None::<Timestamp>);
        for activity in merge.by_ref() {
            if latest.is_some_and(|t| activity.time < t) {
                steps_back += 1;
            }
            latest = latest.max(Some(activity.time));
        }
        let (results, _) = merge.finish();
        let FileOutcome::Events { late, .. } = results[0].outcome else { panic!() };
        assert!(late > 0);
        assert_eq!(steps_back, late);
    }
}
