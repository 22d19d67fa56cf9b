//! Length-prefixed postcard frames on QUIC streams.
//!
//! ```text
//!   ┌──────────────┬──────────────────────────────┐
//!   │ len: u32 LE  │ body: postcard(message), len │   repeated until the stream ends
//!   └──────────────┴──────────────────────────────┘
//! ```
//!
//! The reader checks `len` against `frame_bytes_max` before it grows its buffer,
//! so a header declaring 4 GiB costs nothing but an error. A stream may end only
//! between frames; ending inside one is [`TransportError::Truncated`].
//!
//! The writer encodes into one buffer and writes it with as few stream writes as
//! quinn allows: [`FrameWriter::push`] many frames, then one
//! [`FrameWriter::flush`]. [`FrameSender`] does that automatically for a task
//! fed by a bounded channel: whatever has queued while the last write was in
//! flight goes out in the next one (coalescing), and a full channel makes
//! senders wait (backpressure).

use std::net::SocketAddr;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Result, TransportError};

/// Bytes of the length header in front of every frame.
pub const FRAME_HEADER_BYTES: usize = 4;
/// Initial size of a reader's buffer; it grows (up to the frame limit) only for
/// a frame whose header has been checked.
pub const READ_BUFFER_BYTES_INITIAL: usize = 64 << 10;
/// Initial size of a writer's buffer.
pub const WRITE_BUFFER_BYTES_INITIAL: usize = 1024;
/// A writer flushes on its own once this much is buffered.
pub const WRITE_BUFFER_BYTES_FLUSH: usize = 256 << 10;

/// What the start of a buffer holds, frame-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameHead {
    /// Not a whole frame yet; `needed_bytes` in total are needed (0 if the
    /// header itself is incomplete).
    Incomplete {
        /// Bytes the whole frame takes, header included, once the header is known.
        needed_bytes: usize,
    },
    /// The header declares more than the maximum.
    TooLarge {
        /// The declared body length.
        declared_bytes: u64,
    },
    /// A whole frame: its body is `buf[body_start..body_end]`.
    Complete {
        /// Offset of the body.
        body_start: usize,
        /// End of the body (and of the frame).
        body_end: usize,
    },
}

/// Parses the frame at the start of `buf`, checking the header against
/// `frame_bytes_max` before anything else. Pure; never panics.
pub fn parse_frame(buf: &[u8], frame_bytes_max: u32) -> FrameHead {
    let Some(header) = buf.first_chunk::<FRAME_HEADER_BYTES>() else {
        return FrameHead::Incomplete { needed_bytes: 0 };
    };
    let declared = u32::from_le_bytes(*header);
    if declared > frame_bytes_max {
        return FrameHead::TooLarge {
            declared_bytes: declared.into(),
        };
    }
    // declared <= frame_bytes_max (a u32), so this fits any 32/64-bit usize.
    let total = FRAME_HEADER_BYTES + declared as usize;
    if buf.len() < total {
        return FrameHead::Incomplete {
            needed_bytes: total,
        };
    }
    FrameHead::Complete {
        body_start: FRAME_HEADER_BYTES,
        body_end: total,
    }
}

/// Reads frames from a QUIC receive stream.
#[derive(Debug)]
pub struct FrameReader {
    recv: quinn::RecvStream,
    peer: SocketAddr,
    frame_bytes_max: u32,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    /// Wraps `recv`; frames above `frame_bytes_max` are refused.
    pub fn new(recv: quinn::RecvStream, peer: SocketAddr, frame_bytes_max: u32) -> Self {
        Self {
            recv,
            peer,
            frame_bytes_max,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The next frame's body; `Ok(None)` when the stream ended between frames.
    ///
    /// Cancel safety: cancel-safe. Bytes received before the future is dropped
    /// stay buffered in `self`, and the next call continues from them.
    pub async fn read_frame(&mut self) -> Result<Option<&[u8]>> {
        let (from, to) = loop {
            if let Some(range) = self.buffered_frame()? {
                break range;
            }
            if !self.fill().await? {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(TransportError::Truncated {
                    peer: self.peer,
                    buffered_bytes: self.end - self.start,
                });
            }
        };
        Ok(Some(&self.buf[from..to]))
    }

    /// The next frame decoded as `M`; `Ok(None)` when the stream ended between frames.
    ///
    /// Cancel safety: cancel-safe, as [`FrameReader::read_frame`].
    pub async fn read<M: DeserializeOwned>(&mut self) -> Result<Option<M>> {
        let peer = self.peer;
        match self.read_frame().await? {
            None => Ok(None),
            Some(body) => postcard::from_bytes(body)
                .map(Some)
                .map_err(|source| TransportError::Decode { peer, source }),
        }
    }

    /// The next frame decoded as `M` if one is already buffered whole;
    /// `Ok(None)` without waiting otherwise.
    pub fn try_read_buffered<M: DeserializeOwned>(&mut self) -> Result<Option<M>> {
        let peer = self.peer;
        match self.buffered_frame()? {
            None => Ok(None),
            Some((from, to)) => postcard::from_bytes(&self.buf[from..to])
                .map(Some)
                .map_err(|source| TransportError::Decode { peer, source }),
        }
    }

    /// Bytes of memory the read buffer holds now (for metrics, and to prove limits).
    pub fn buffer_capacity_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Tells the remote to stop sending on this stream (after a bad frame, say).
    pub fn stop(&mut self, code: crate::CloseCode) {
        // Already finished or reset: nothing left to stop.
        let _ = self.recv.stop(code.into());
    }

    /// The body range of a complete buffered frame, consuming it; checks the header.
    fn buffered_frame(&mut self) -> Result<Option<(usize, usize)>> {
        match parse_frame(&self.buf[self.start..self.end], self.frame_bytes_max) {
            FrameHead::Incomplete { needed_bytes: 0 } => Ok(None),
            FrameHead::Incomplete { needed_bytes } => {
                self.make_room(needed_bytes);
                Ok(None)
            }
            FrameHead::TooLarge { declared_bytes } => Err(TransportError::FrameTooLarge {
                peer: self.peer,
                declared_bytes,
                frame_bytes_max: self.frame_bytes_max,
            }),
            FrameHead::Complete {
                body_start,
                body_end,
            } => {
                let body = (self.start + body_start, self.start + body_end);
                self.start += body_end;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                Ok(Some(body))
            }
        }
    }

    /// Ensures the buffer can hold a frame of `total` bytes from `start`.
    fn make_room(&mut self, total: usize) {
        if self.start + total <= self.buf.len() {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < total {
            // total <= FRAME_HEADER_BYTES + frame_bytes_max: the header was checked.
            // Room for two such frames, so a stream of large frames is not
            // compacted after every one (still at most twice the limit).
            self.buf
                .resize(total.saturating_mul(2).max(READ_BUFFER_BYTES_INITIAL), 0);
        }
    }

    /// Reads more bytes into the buffer; `false` at the end of the stream.
    async fn fill(&mut self) -> Result<bool> {
        if self.buf.is_empty() {
            self.buf.resize(READ_BUFFER_BYTES_INITIAL, 0);
        }
        if self.end == self.buf.len() {
            // Only a partial header sits at the very end: move it to the front.
            self.make_room(self.buf.len() - self.start + 1);
        }
        let peer = self.peer;
        match self.recv.read(&mut self.buf[self.end..]).await {
            Ok(Some(n)) => {
                self.end += n;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(source) => Err(TransportError::Read { peer, source }),
        }
    }
}

/// Writes frames to a QUIC send stream, coalescing them into few writes.
#[derive(Debug)]
pub struct FrameWriter {
    send: quinn::SendStream,
    peer: SocketAddr,
    frame_bytes_max: u32,
    /// Frames pushed since the last flush began.
    buf: Vec<u8>,
    /// Bytes handed to quinn by a flush, not yet accepted by it.
    pending: Bytes,
}

/// Appends `msg` to `buf` as one frame (length header, then body); returns
/// the buffer and the body's length. A body too long for the header keeps a
/// zero header: the callers refuse it.
fn append_frame<M: Serialize + ?Sized>(
    mut buf: Vec<u8>,
    msg: &M,
) -> std::result::Result<(Vec<u8>, usize), postcard::Error> {
    let header_at = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    let mut buf = postcard::to_extend(msg, buf)?;
    let body_bytes = buf.len() - header_at - FRAME_HEADER_BYTES;
    if let Ok(len) = u32::try_from(body_bytes) {
        buf[header_at..header_at + FRAME_HEADER_BYTES].copy_from_slice(&len.to_le_bytes());
    }
    Ok((buf, body_bytes))
}

/// Encodes `msg` once as a whole frame (header and body), to be sent on many
/// streams with [`FrameWriter::push_frame`].
pub fn encode_frame<M: Serialize + ?Sized>(msg: &M) -> Result<Bytes> {
    let shared = |what: String| TransportError::EncodeShared { what };
    let (buf, body_bytes) = append_frame(Vec::new(), msg).map_err(|e| shared(e.to_string()))?;
    if u32::try_from(body_bytes).is_err() {
        return Err(shared(format!(
            "a body of {body_bytes} bytes does not fit a frame"
        )));
    }
    Ok(Bytes::from(buf))
}

impl FrameWriter {
    /// Wraps `send`; frames above `frame_bytes_max` are refused before sending.
    pub fn new(send: quinn::SendStream, peer: SocketAddr, frame_bytes_max: u32) -> Self {
        Self {
            send,
            peer,
            frame_bytes_max,
            buf: Vec::new(),
            pending: Bytes::new(),
        }
    }

    /// Encodes `msg` as one frame into the buffer (no I/O).
    pub fn push<M: Serialize + ?Sized>(&mut self, msg: &M) -> Result<()> {
        if self.buf.capacity() == 0 {
            // A flush gave the last buffer away to quinn: start a fresh one.
            self.buf.reserve(WRITE_BUFFER_BYTES_INITIAL);
        }
        let header_at = self.buf.len();
        let body_bytes;
        (self.buf, body_bytes) = append_frame(std::mem::take(&mut self.buf), msg).map_err(|e| {
            // postcard consumed the buffer: the frames pushed before are lost,
            // which only a bug in a Serialize impl can cause.
            TransportError::Encode {
                peer: self.peer,
                what: e.to_string(),
            }
        })?;
        self.refuse_oversized(body_bytes)
            .inspect_err(|_| self.buf.truncate(header_at))
    }

    /// Refuses a frame body above `frame_bytes_max`.
    fn refuse_oversized(&self, body_bytes: usize) -> Result<()> {
        if u32::try_from(body_bytes).is_ok_and(|len| len <= self.frame_bytes_max) {
            return Ok(());
        }
        Err(TransportError::Encode {
            peer: self.peer,
            what: format!(
                "frame of {body_bytes} bytes exceeds frame_bytes_max {}",
                self.frame_bytes_max
            ),
        })
    }

    /// Appends a frame made by [`encode_frame`] (no encoding, and no copy
    /// when nothing else is buffered: quinn is handed the shared bytes).
    pub fn push_frame(&mut self, frame: &Bytes) -> Result<()> {
        // Shorter than a header is no frame at all: refused as oversized.
        let body_bytes = frame
            .len()
            .checked_sub(FRAME_HEADER_BYTES)
            .unwrap_or(usize::MAX);
        self.refuse_oversized(body_bytes)?;
        if self.buf.is_empty() && self.pending.is_empty() {
            self.pending = frame.clone();
        } else {
            self.buf.extend_from_slice(frame);
        }
        Ok(())
    }

    /// Bytes pushed and not yet accepted by quinn.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() + self.pending.len()
    }

    /// Hands every buffered byte to quinn (without copying: the buffer itself
    /// becomes quinn's chunk).
    ///
    /// Cancel safety: cancel-safe. Bytes quinn has not accepted stay in `self`
    /// and the next `flush` continues with them, in order.
    pub async fn flush(&mut self) -> Result<()> {
        loop {
            if self.pending.is_empty() {
                if self.buf.is_empty() {
                    return Ok(());
                }
                self.pending = Bytes::from(std::mem::take(&mut self.buf));
            }
            let peer = self.peer;
            // write_chunks is cancel-safe: it advances `pending` only when it resolves.
            self.send
                .write_chunks(std::slice::from_mut(&mut self.pending))
                .await
                .map_err(|source| TransportError::Write { peer, source })?;
        }
    }

    /// Pushes one frame and flushes.
    ///
    /// Cancel safety: if dropped, the frame may be buffered but unsent; a later
    /// `flush` sends it.
    pub async fn send<M: Serialize + ?Sized>(&mut self, msg: &M) -> Result<()> {
        self.push(msg)?;
        self.flush().await
    }

    /// Pushes one frame, flushing only when the buffer passes [`WRITE_BUFFER_BYTES_FLUSH`].
    ///
    /// Cancel safety: as [`FrameWriter::send`].
    pub async fn feed<M: Serialize + ?Sized>(&mut self, msg: &M) -> Result<()> {
        self.push(msg)?;
        if self.buffered_bytes() >= WRITE_BUFFER_BYTES_FLUSH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Flushes and ends the stream cleanly.
    ///
    /// Cancel safety: as [`FrameWriter::flush`]; the stream is finished only
    /// once everything is written.
    pub async fn finish(&mut self) -> Result<()> {
        self.flush().await?;
        // Already finished or reset by the remote: nothing more to end.
        let _ = self.send.finish();
        Ok(())
    }

    /// Sets this stream's send priority (higher first; default 0): give the
    /// control stream a higher one than bulk snapshot streams, so a snapshot
    /// never queues ahead of a heartbeat inside quinn.
    pub fn set_priority(&self, priority: i32) {
        // A stream already finished or reset has nothing left to prioritise.
        let _ = self.send.set_priority(priority);
    }

    /// Abandons the stream, telling the remote why.
    pub fn reset(&mut self, code: crate::CloseCode) {
        let _ = self.send.reset(code.into());
    }
}

/// A cloneable handle that queues messages for a task writing them to one stream.
#[derive(Debug)]
pub struct FrameSender<M> {
    queue: mpsc::Sender<M>,
    peer: SocketAddr,
}

impl<M> Clone for FrameSender<M> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            peer: self.peer,
        }
    }
}

impl<M: Serialize + Send + 'static> FrameSender<M> {
    /// Spawns the writing task; at most `queue_len_max` messages wait in the queue.
    ///
    /// The task ends (finishing the stream) when every sender is dropped, or
    /// with the first error, which the returned handle yields.
    pub fn spawn(mut writer: FrameWriter, queue_len_max: usize) -> (Self, JoinHandle<Result<()>>) {
        let (queue, mut rx) = mpsc::channel::<M>(queue_len_max.max(1));
        let peer = writer.peer;
        let batch_len_max = queue_len_max.clamp(1, 1024);
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(batch_len_max);
            while rx.recv_many(&mut batch, batch_len_max).await > 0 {
                for msg in batch.drain(..) {
                    writer.push(&msg)?;
                }
                writer.flush().await?;
            }
            writer.finish().await
        });
        (Self { queue, peer }, task)
    }

    /// Queues `msg`, waiting while the queue is full.
    ///
    /// Cancel safety: cancel-safe; a dropped call queued nothing.
    pub async fn send(&self, msg: M) -> Result<()> {
        self.queue
            .send(msg)
            .await
            .map_err(|_| TransportError::SenderClosed { peer: self.peer })
    }

    /// Queues `msg` if there is room; `Ok(false)` if the queue is full.
    pub fn try_send(&self, msg: M) -> Result<bool> {
        match self.queue.try_send(msg) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(TransportError::SenderClosed { peer: self.peer })
            }
        }
    }
}
