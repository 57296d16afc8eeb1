//! The pure part of a delivery run: the stamp each message carries, the senders'
//! schedule, and the count of what arrived (delivered, lost, duplicated).
//!
//! A message's text is one word, `dlv:<tag>:<stream>:<seq>:<sent_us>`: `tag` is the
//! run's random tag in hex (texts of other runs are ignored as foreign), `stream` the
//! sender's index, `seq` its message number from 0, and `sent_us` the microseconds from
//! the run's epoch (an [`std::time::Instant`] of this process, shared by senders and
//! receivers) to just before the send line was written.

use std::time::Duration;

/// What a message text says about the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The run's tag.
    pub tag: u32,
    /// The sender's index.
    pub stream: u32,
    /// The sender's message number, from 0.
    pub seq: u32,
    /// Microseconds from the run's epoch to the send.
    pub sent_us: u64,
}

impl Stamp {
    /// The message text: `dlv:<tag hex>:<stream>:<seq>:<sent_us>`.
    pub fn encode(&self) -> String {
        format!(
            "dlv:{:08x}:{}:{}:{}",
            self.tag, self.stream, self.seq, self.sent_us
        )
    }

    /// Reads a message text; `None` for any text not written by [`Stamp::encode`].
    pub fn decode(text: &str) -> Option<Stamp> {
        let mut parts = text.trim().strip_prefix("dlv:")?.split(':');
        let tag = u32::from_str_radix(parts.next()?, 16).ok()?;
        let stream = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let sent_us = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Stamp {
            tag,
            stream,
            seq,
            sent_us,
        })
    }
}

/// When sender `index` of `count` sends its message `k`, as an offset from the epoch:
/// `phase + k × interval`, with the phases spread evenly over one interval. A
/// fixed schedule (open loop): a late send does not move the ones after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Offset of message 0.
    pub phase: Duration,
    /// Time between two messages (1 / rate).
    pub interval: Duration,
}

impl Schedule {
    /// The schedule of sender `index` of `count` sending `rate` messages per second.
    pub fn new(index: usize, count: usize, rate: f64) -> Schedule {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let phase = interval.mul_f64(index as f64 / count.max(1) as f64);
        Schedule { phase, interval }
    }

    /// Offset of message `k`.
    pub fn at(&self, k: u32) -> Duration {
        self.phase + self.interval * k
    }
}

/// What one sender did: `ok[seq]` is whether message `seq` was accepted (the server's
/// OK for chat; written without error for IRC, which has no acknowledgement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderLog {
    /// Per message number: accepted.
    pub ok: Vec<bool>,
    /// Per message number: when it was sent, µs from the epoch.
    pub sent_us: Vec<u64>,
    /// Per message number: when the server's OK was read, µs from the epoch (chat
    /// only; empty over IRC).
    pub ok_us: Vec<u64>,
}

/// What one receiver got from the stream it listens to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverLog {
    /// The sender this receiver listens to.
    pub stream: u32,
    /// Per message number: how many times it arrived.
    pub counts: Vec<u32>,
    /// Texts that were not this run's messages of this stream.
    pub foreign: u64,
    /// Per message number: the first arrival, µs from the epoch ([`NOT_YET`] if none).
    pub first_us: Vec<u64>,
}

/// `first_us` of a message that has not arrived.
pub const NOT_YET: u64 = u64::MAX;

impl ReceiverLog {
    /// A receiver of `stream`.
    pub fn new(stream: u32) -> Self {
        ReceiverLog {
            stream,
            ..Self::default()
        }
    }

    /// Counts an arrival of `stamp`; returns how many times it has arrived now
    /// (1 for the first time), or 0 when it is foreign (another run or stream).
    pub fn record(&mut self, stamp: &Stamp, tag: u32, at_us: u64) -> u32 {
        if stamp.tag != tag || stamp.stream != self.stream {
            self.foreign += 1;
            return 0;
        }
        let seq = stamp.seq as usize;
        if self.counts.len() <= seq {
            self.counts.resize(seq + 1, 0);
            self.first_us.resize(seq + 1, NOT_YET);
        }
        self.counts[seq] += 1;
        self.first_us[seq] = self.first_us[seq].min(at_us);
        self.counts[seq]
    }
}

/// The whole run's account of messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages accepted, times the receivers each should reach.
    pub expected: u64,
    /// Of those, how many arrived at least once.
    pub arrived: u64,
    /// Accepted but never arrived.
    pub lost: u64,
    /// Extra arrivals of a message that had arrived already.
    pub duplicates: u64,
    /// Arrivals of messages the sender never had accepted.
    pub unexpected: u64,
    /// Foreign texts.
    pub foreign: u64,
}

/// Accounts every receiver against the log of the sender it listens to.
pub fn account(senders: &[SenderLog], receivers: &[ReceiverLog]) -> Totals {
    let mut t = Totals::default();
    let none = SenderLog::default();
    for r in receivers {
        let sender = senders.get(r.stream as usize).unwrap_or(&none);
        let len = sender.ok.len().max(r.counts.len());
        for seq in 0..len {
            let ok = sender.ok.get(seq).copied().unwrap_or(false);
            let n = u64::from(r.counts.get(seq).copied().unwrap_or(0));
            t.duplicates += n.saturating_sub(1);
            match (ok, n) {
                (true, 0) => {
                    t.expected += 1;
                    t.lost += 1;
                }
                (true, _) => {
                    t.expected += 1;
                    t.arrived += 1;
                }
                (false, 0) => {}
                (false, _) => t.unexpected += 1,
            }
        }
        t.foreign += r.foreign;
    }
    t
}

/// From the sender's OK to the first arrival, in µs, of every message sent inside
/// `window_us` (µs from the epoch) that has an OK and arrived; and how many of those
/// arrived before their OK was read (they count as 0).
pub fn ok_to_arrival(
    senders: &[SenderLog],
    receivers: &[ReceiverLog],
    window_us: std::ops::Range<u64>,
) -> (Vec<u64>, u64) {
    let (mut samples, mut before) = (Vec::new(), 0);
    for r in receivers {
        let Some(s) = senders.get(r.stream as usize) else {
            continue;
        };
        for (seq, &first) in r.first_us.iter().enumerate() {
            let (Some(&sent), Some(&ok_at)) = (s.sent_us.get(seq), s.ok_us.get(seq)) else {
                continue;
            };
            if first == NOT_YET || !window_us.contains(&sent) || !s.ok[seq] {
                continue;
            }
            if first < ok_at {
                before += 1;
            }
            samples.push(first.saturating_sub(ok_at));
        }
    }
    (samples, before)
}

/// utime + stime of a `/proc/PID/stat` text, in clock ticks. The command name (field
/// 2) is in parentheses and may hold spaces, so fields are counted after its `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc/PID/stat` (Linux's USER_HZ, 100 on x86 and arm;
/// the kernel's own HZ does not change it).
pub const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system, all threads) that process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_reject_other_texts() {
        let s = Stamp {
            tag: 0xbeef,
            stream: 7,
            seq: 42,
            sent_us: 1_234_567,
        };
        assert_eq!(s.encode(), "dlv:0000beef:7:42:1234567");
        assert_eq!(Stamp::decode(&s.encode()), Some(s));
        assert_eq!(Stamp::decode(" dlv:0000beef:7:42:1234567\r"), Some(s));
        for bad in [
            "hello",
            "dlv:zz:1:2:3",
            "dlv:1:2:3",
            "dlv:1:2:3:4:5",
            "dlv:1:-2:3:4",
        ] {
            assert_eq!(Stamp::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn schedules_are_spread_and_fixed() {
        let a = Schedule::new(0, 4, 2.0);
        let b = Schedule::new(1, 4, 2.0);
        assert_eq!(a.interval, Duration::from_millis(500));
        assert_eq!(a.at(0), Duration::ZERO);
        assert_eq!(a.at(3), Duration::from_millis(1500));
        assert_eq!(b.at(0), Duration::from_millis(125));
        assert_eq!(b.at(2), Duration::from_millis(1125));
    }

    #[test]
    fn receivers_count_arrivals_of_their_stream_only() {
        let mut r = ReceiverLog::new(2);
        let s = |stream, seq| Stamp {
            tag: 9,
            stream,
            seq,
            sent_us: 0,
        };
        assert_eq!(r.record(&s(2, 3), 9, 50), 1);
        assert_eq!(r.record(&s(2, 3), 9, 40), 2);
        assert_eq!(r.record(&s(1, 0), 9, 60), 0);
        assert_eq!(r.record(&s(2, 0), 8, 70), 0);
        assert_eq!(r.counts, vec![0, 0, 0, 2]);
        assert_eq!(r.first_us, vec![NOT_YET, NOT_YET, NOT_YET, 40]);
        assert_eq!(r.foreign, 2);
    }

    #[test]
    fn lost_duplicated_and_unexpected_are_told_apart() {
        let log = |ok: Vec<bool>| SenderLog {
            ok,
            ..SenderLog::default()
        };
        let senders = vec![log(vec![true, true, true, false]), log(vec![true, true])];
        let mut a = ReceiverLog::new(0);
        a.counts = vec![1, 0, 3, 1]; // 1 lost, 2 duplicates, 1 unexpected (not OK'd)
        let mut b = ReceiverLog::new(1);
        b.counts = vec![1, 1, 1]; // seq 2 was never sent
        b.foreign = 4;
        let t = account(&senders, &[a, b]);
        assert_eq!(
            t,
            Totals {
                expected: 5,
                arrived: 4,
                lost: 1,
                duplicates: 2,
                unexpected: 2,
                foreign: 4,
            }
        );
        // Fan-out: two receivers of one stream each need every message.
        let fan = account(&senders[..1], &[ReceiverLog::new(0), ReceiverLog::new(0)]);
        assert_eq!((fan.expected, fan.lost), (6, 6));
    }

    #[test]
    fn latency_from_the_ok_counts_early_arrivals_as_zero() {
        let sender = SenderLog {
            ok: vec![true, true, false, true],
            sent_us: vec![100, 200, 300, 900],
            ok_us: vec![150, 260, 350, 950],
        };
        let mut r = ReceiverLog::new(0);
        // 0: after its OK; 1: before its OK; 2: not accepted; 3: sent outside the window.
        r.first_us = vec![170, 230, 330, 960];
        let (samples, before) = ok_to_arrival(&[sender], &[r], 0..500);
        assert_eq!((samples, before), (vec![20, 0], 1));
    }

    #[test]
    fn cpu_ticks_are_read_after_the_name() {
        let stat = "4242 (chat server) S 1 4242 4242 0 -1 4194560 2790 0 0 0 \
                    150 37 0 0 20 0 9 0 123 456 789";
        assert_eq!(parse_stat_ticks(stat), Some(187));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
        assert!(cpu_time(std::process::id()).is_some());
    }
}
