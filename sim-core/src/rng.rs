//! Random streams.
//!
//! Every component draws from its own `ChaCha8Rng` stream, derived from
//! (master seed, scenario name, run index, stream name) with a stable hash
//! (FNV-1a then a SplitMix64 finaliser). Adding a stream never shifts
//! another.
//!
//! The world's streams are also keyed by a fixed time slot ([`SlotStream`]):
//! the draws of slot `k` come from their own ChaCha stream, whatever
//! happened in earlier slots. Two controllers that act alike up to some
//! instant therefore share every draw before it (common random numbers),
//! and a difference late in a run cannot shift the draws of its start.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Identifies one run: which scenario, which master seed, which run index.
#[derive(Clone, Copy, Debug)]
pub struct RunKey<'a> {
    pub master_seed: u64,
    pub scenario: &'a str,
    pub run_index: u64,
}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A stable 64-bit hash of `bytes` (FNV-1a), the same on every build and
/// machine: for naming content, such as the inputs a kept result came from.
pub fn content_hash(bytes: &[u8]) -> u64 {
    fnv1a(0xcbf2_9ce4_8422_2325, bytes)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The RNG for one named stream of one run.
pub fn stream(key: RunKey<'_>, name: &str) -> ChaCha8Rng {
    let mut h = 0xcbf2_9ce4_8422_2325;
    h = fnv1a(h, &key.master_seed.to_le_bytes());
    h = fnv1a(h, key.scenario.as_bytes());
    h = fnv1a(h, &[0xff]);
    h = fnv1a(h, &key.run_index.to_le_bytes());
    let seed = splitmix(h);
    let stream_id = splitmix(fnv1a(0xcbf2_9ce4_8422_2325, name.as_bytes()));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream_id);
    crate::draw::note(crate::draw::Draw::Stream);
    rng
}

/// One named stream of one run, re-derived for each time slot.
#[derive(Clone, Debug)]
pub struct SlotStream {
    /// The run's generator before any draw (stream 0).
    template: ChaCha8Rng,
    name_id: u64,
}

impl SlotStream {
    pub fn new(key: RunKey<'_>, name: &str) -> SlotStream {
        let mut template = stream(key, name);
        template.set_stream(0);
        SlotStream {
            template,
            name_id: splitmix(fnv1a(0xcbf2_9ce4_8422_2325, name.as_bytes())),
        }
    }

    /// The generator for slot `slot`: its own ChaCha stream of the run's key.
    pub fn at(&self, slot: u64) -> ChaCha8Rng {
        let mut rng = self.template.clone();
        rng.set_stream(splitmix(self.name_id ^ splitmix(slot.wrapping_add(1))));
        crate::draw::note(crate::draw::Draw::Stream);
        rng
    }

    /// Turns `rng`, a generator this stream made, into the one [`SlotStream::at`]
    /// gives for `slot`, without copying the template: the same key, the
    /// slot's stream, back at its first word.
    pub fn move_to(&self, rng: &mut ChaCha8Rng, slot: u64) {
        debug_assert_eq!(rng.get_seed(), self.template.get_seed(), "a generator of this stream");
        rng.set_word_pos(0);
        rng.set_stream(splitmix(self.name_id ^ splitmix(slot.wrapping_add(1))));
        crate::draw::note(crate::draw::Draw::Stream);
    }

    /// The generator for a key of several parts (an arm and a window's
    /// bounds, say): its own ChaCha stream of the run's key. The same key
    /// always gives the same generator; a counter-based stream, drawn
    /// from in no particular order.
    pub fn at_key(&self, parts: &[u64]) -> ChaCha8Rng {
        let mut h = self.name_id;
        for &p in parts {
            h = splitmix(h ^ splitmix(p.wrapping_add(1)));
        }
        let mut rng = self.template.clone();
        // Kept apart from the slot streams of the same name, whose stream
        // ids are one splitmix of a single part.
        rng.set_stream(splitmix(h ^ 0x6b65_7965_6400_0000));
        crate::draw::note(crate::draw::Draw::Stream);
        rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn key(seed: u64, scenario: &str, run: u64) -> RunKey<'_> {
        RunKey {
            master_seed: seed,
            scenario,
            run_index: run,
        }
    }

    #[test]
    fn streams_are_stable_and_distinct() {
        let a = stream(key(7, "s", 0), "traffic").next_u64();
        assert_eq!(a, stream(key(7, "s", 0), "traffic").next_u64());
        assert_ne!(a, stream(key(7, "s", 0), "routing").next_u64());
        assert_ne!(a, stream(key(8, "s", 0), "traffic").next_u64());
        assert_ne!(a, stream(key(7, "t", 0), "traffic").next_u64());
        assert_ne!(a, stream(key(7, "s", 1), "traffic").next_u64());
    }

    #[test]
    fn slot_streams_are_stable_and_distinct() {
        let s = SlotStream::new(key(7, "s", 0), "traffic");
        let a = s.at(3).next_u64();
        assert_eq!(a, s.at(3).next_u64());
        assert_ne!(a, s.at(4).next_u64());
        assert_ne!(a, SlotStream::new(key(7, "s", 0), "routing").at(3).next_u64());
        // A used generator moved to a slot draws what a fresh one does.
        let mut moved = s.at(9);
        moved.next_u64();
        moved.next_u32();
        s.move_to(&mut moved, 3);
        assert_eq!(moved.next_u64(), a);
        let mut fresh = s.at(3);
        fresh.next_u64();
        for _ in 0..200 {
            assert_eq!(moved.next_u64(), fresh.next_u64());
        }
        assert_ne!(a, SlotStream::new(key(7, "s", 1), "traffic").at(3).next_u64());
        assert_eq!(
            SlotStream::new(key(1, "checkout-error-spike", 0), "traffic")
                .at(0)
                .next_u64(),
            5_416_836_997_261_865_131
        );
    }

    #[test]
    fn keyed_streams_are_stable_and_distinct() {
        let s = SlotStream::new(key(7, "s", 0), "latency_exact");
        let a = s.at_key(&[1, 600_000, 660_000]).next_u64();
        assert_eq!(a, s.at_key(&[1, 600_000, 660_000]).next_u64());
        assert_ne!(a, s.at_key(&[0, 600_000, 660_000]).next_u64());
        assert_ne!(a, s.at_key(&[1, 600_000, 675_000]).next_u64());
        assert_ne!(a, s.at_key(&[1, 660_000, 600_000]).next_u64(), "order matters");
        assert_ne!(s.at_key(&[3]).next_u64(), s.at(3).next_u64());
    }

    /// Pins the derivation: changing it would silently change every
    /// published figure, so it must be a deliberate, visible change.
    #[test]
    fn derivation_is_pinned() {
        let v = stream(key(1, "checkout-error-spike", 0), "traffic").next_u64();
        assert_eq!(v, 1_932_669_791_549_772_270);
        let w = SlotStream::new(key(1, "checkout-error-spike", 0), "latency_exact")
            .at_key(&[1, 600_000, 660_000])
            .next_u64();
        assert_eq!(w, 12_219_134_777_592_277_987);
    }
}
