//! Block compression with an ordered writer: text-like blocks compressed in stage 1 (LZ4's
//! block format, `lz4_flex`), checksummed and framed in stage 2 (CRC-32 of the raw block,
//! `crc32fast`), written in order by the sink.
//!
//! A frame is `index: u64, raw length: u32, compressed length: u32, CRC-32 of the raw
//! bytes: u32` (little-endian) and the compressed bytes; the frames in index order are the
//! output ([`read_frames`] reads them back). The source copies each block out of a corpus
//! generated once (sentences of words from a small vocabulary, some recurring more than
//! others, as phrases recur in text and log lines: LZ4 packs it to about a third), at an
//! offset that depends on the index.

use std::io::Write;
use std::sync::Arc;

use super::{OrderedSink, PipeTally, Rng, Stage, Tallier, Workload};

/// The corpus the blocks are cut from.
const CORPUS: usize = 1 << 20;
/// A frame's header: index, raw length, compressed length, CRC-32.
pub const HEADER: usize = 8 + 4 + 4 + 4;
/// Distinct sentences of the corpus.
const SENTENCES: usize = 400;

/// The workload: `blocks` blocks of `block_size` bytes.
#[derive(Debug)]
pub struct Blocks {
    pub blocks: u64,
    pub block_size: usize,
    corpus: Vec<u8>,
}

/// One block on its way: its index, the raw bytes (until stage 2), the compressed bytes
/// (stage 1), the whole frame (stage 2).
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub index: u64,
    pub raw: Vec<u8>,
    pub packed: Vec<u8>,
    pub frame: Vec<u8>,
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "pipeline",
    "stage",
    "worker",
    "ring",
    "buffer",
    "order",
    "item",
    "engine",
    "thread",
    "merge",
    "channel",
    "compress",
    "block",
    "frame",
    "checksum",
    "throughput",
    "latency",
];

impl Blocks {
    pub fn new(blocks: u64, block_size: usize) -> Self {
        assert!(block_size > 0, "blocks of at least one byte");
        let size = CORPUS.max(2 * block_size);
        let mut rng = Rng::new(7);
        // Sentences of words, then the corpus as sentences drawn with a bias towards the
        // first ones (as phrases recur in text and log lines): LZ4 packs it to about a third.
        let sentences: Vec<Vec<u8>> = (0..SENTENCES)
            .map(|_| {
                let mut v = Vec::new();
                for w in 0..4 + rng.below(10) {
                    if w > 0 {
                        v.push(if rng.below(12) == 0 { b',' } else { b' ' });
                    }
                    v.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                }
                v.extend_from_slice(if rng.below(4) == 0 { b".\n" } else { b". " });
                v
            })
            .collect();
        let mut corpus = Vec::with_capacity(size + 256);
        while corpus.len() < size {
            let k = rng.below(SENTENCES as u64).min(rng.below(SENTENCES as u64));
            corpus.extend_from_slice(&sentences[k as usize]);
        }
        corpus.truncate(size);
        Blocks {
            blocks,
            block_size,
            corpus,
        }
    }

    /// Stage 1: the raw bytes compressed.
    pub fn compress(mut b: Block) -> Block {
        b.packed = lz4_flex::block::compress(&b.raw);
        b
    }

    /// Stage 2: the raw bytes' CRC-32, then the frame (header and compressed bytes); the raw
    /// and compressed buffers are freed.
    pub fn frame(mut b: Block) -> Block {
        let crc = crc32fast::hash(&b.raw);
        let mut f = Vec::with_capacity(HEADER + b.packed.len());
        f.extend_from_slice(&b.index.to_le_bytes());
        f.extend_from_slice(
            &u32::try_from(b.raw.len())
                .expect("block < 4 GiB")
                .to_le_bytes(),
        );
        f.extend_from_slice(
            &u32::try_from(b.packed.len())
                .expect("block < 4 GiB")
                .to_le_bytes(),
        );
        f.extend_from_slice(&crc.to_le_bytes());
        f.extend_from_slice(&b.packed);
        b.frame = f;
        b.raw = Vec::new();
        b.packed = Vec::new();
        b
    }
}

impl Workload for Blocks {
    type Item = Block;
    type Sink = BlockWriter<std::io::Sink>;

    fn label(&self) -> String {
        format!("compress {}KiB", self.block_size / 1024)
    }

    fn describe(&self) -> String {
        format!(
            "{} text-like blocks of {} bytes; stage 1: LZ4 block compression (lz4_flex), \
             stage 2: CRC-32 of the raw block (crc32fast) and the frame; the sink writes the \
             frames in order (to io::sink) with a running CRC-32 of what it wrote",
            self.blocks, self.block_size
        )
    }

    fn items(&self) -> u64 {
        self.blocks
    }

    fn make(&self, index: u64) -> Block {
        let span = (self.corpus.len() - self.block_size) as u64;
        let at = (super::mix(index) % span.max(1)) as usize;
        Block {
            index,
            raw: self.corpus[at..at + self.block_size].to_vec(),
            ..Block::default()
        }
    }

    fn stages(&self) -> Vec<Stage<Block>> {
        vec![Arc::new(Blocks::compress), Arc::new(Blocks::frame)]
    }

    fn sink(&self) -> Self::Sink {
        BlockWriter::new(std::io::sink())
    }
}

/// The ordered writer: writes each frame to `out`, keeping a CRC-32 of everything written and
/// the byte count (the checksum: both).
#[derive(Debug)]
pub struct BlockWriter<W: Write> {
    out: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
    tally: Tallier,
}

impl<W: Write> BlockWriter<W> {
    pub fn new(out: W) -> Self {
        BlockWriter {
            out,
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
            tally: Tallier::default(),
        }
    }

    /// The writer, once every frame is in.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> OrderedSink<Block> for BlockWriter<W> {
    #[inline]
    fn take(&mut self, b: Block) {
        self.out.write_all(&b.frame).expect("the ordered writer");
        self.hasher.update(&b.frame);
        self.bytes += b.frame.len() as u64;
        let crc = self.hasher.clone().finalize();
        self.tally.add(
            b.index,
            u64::from(crc) ^ (self.bytes << 32) ^ b.frame.len() as u64,
        );
    }

    fn tally(&self) -> PipeTally {
        self.tally.tally()
    }
}

/// The frames of `data` in turn: (index, the raw block), each checked against its CRC-32.
///
/// # Panics
/// On a truncated frame, a block that does not decompress or a CRC mismatch.
pub fn read_frames(mut data: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let u32_at = |k: usize| u32::from_le_bytes(data[k..k + 4].try_into().expect("4 bytes"));
        let index = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let (raw_len, packed_len, crc) = (u32_at(8) as usize, u32_at(12) as usize, u32_at(16));
        let packed = &data[HEADER..HEADER + packed_len];
        let raw = lz4_flex::block::decompress(packed, raw_len).expect("a valid LZ4 block");
        assert_eq!(crc32fast::hash(&raw), crc, "frame {index}: CRC mismatch");
        out.push((index, raw));
        data = &data[HEADER + packed_len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_to_the_source_blocks_in_order() {
        let w = Blocks::new(20, 65536);
        let stages = w.stages();
        let mut sink = BlockWriter::new(Vec::new());
        for i in 0..20 {
            sink.take(stages.iter().fold(w.make(i), |b, s| s(b)));
        }
        let t = sink.tally();
        assert!(t.in_order && t.items == 20, "{t:?}");
        let written = sink.into_inner();
        // The text compresses to about a third.
        assert!(written.len() < 20 * 65536 * 2 / 5, "{}", written.len());
        let frames = read_frames(&written);
        assert_eq!(frames.len(), 20);
        for (k, (index, raw)) in frames.into_iter().enumerate() {
            assert_eq!(index, k as u64);
            assert_eq!(raw, w.make(index).raw);
        }
        // The benchmark's sink (io::sink) keeps the same checksum.
        let mut s = w.sink();
        for i in 0..20 {
            s.take(stages.iter().fold(w.make(i), |b, s| s(b)));
        }
        assert_eq!(s.tally(), t);
    }
}
