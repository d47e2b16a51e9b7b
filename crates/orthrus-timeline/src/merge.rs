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
/// where it is and counted as late (`FileOutcome::Events::late`). 4096 activities per log
/// (a few MiB) hold seconds of a busy DC's log; the bound keeps memory flat however many
/// logs are merged.
pub const REORDER_WINDOW: usize = 4096;

/// One log's activities in event time order (within its window).
struct Stream {
    /// Where the log was among the inputs.
    position: usize,
    label: String,
    reader: EventReader,
    context: MapContext,
    window: BinaryHeap<Reverse<Held>>,
    /// Arrival order, which keeps equal times in file order.
    arrivals: u64,
    last: Option<Timestamp>,
    activities: u64,
    late: u64,
    exhausted: bool,
}

/// An activity held in a window, ordered by time then arrival.
struct Held {
    time: Timestamp,
    arrival: u64,
    activity: Activity,
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
                            activity,
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
        if self.last.is_some_and(|last| held.time < last) {
            self.late += 1;
        } else {
            self.last = Some(held.time);
        }
        self.activities += 1;
        Some(held.activity)
    }
}

/// The activities of every event log, merged by event time.
pub struct EventMerge<'p> {
    streams: Vec<Stream>,
    /// (next time, stream) of every stream with activities left; ties go to the earlier file.
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Logs that could not be opened, with their place among the inputs.
    failed: Vec<(usize, FileResult)>,
    progress: &'p dyn Progress,
}

impl<'p> EventMerge<'p> {
    pub fn open(files: &[&PathBuf], threads: usize, progress: &'p dyn Progress) -> Self {
        let mut merge =
            EventMerge { streams: Vec::new(), heads: BinaryHeap::new(), failed: Vec::new(), progress };
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
                    last: None,
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
        let activity = self.streams.get_mut(index)?.pop();
        self.requeue(index);
        activity
    }
}
