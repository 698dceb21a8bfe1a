//! Control messages between the supervisor and a stage, and their wire framing.
//!
//! Each stage holds one Unix stream socket to the supervisor (a socketpair made at spawn time,
//! so there is no socket file to leave behind). Messages are postcard-encoded and prefixed
//! with their length as a little-endian `u32`. The first message in each direction is the
//! handshake: the stage sends [`ToSupervisor::Hello`] with its [`PROTOCOL_VERSION`]; the
//! supervisor answers [`ToStage::Welcome`] or closes the connection.

use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::{ApiCall, ApiReply, Json};
use crate::pipeline::PipelineState;
use crate::stage::StageKind;

/// Version of the control protocol's envelopes; both sides must agree. API commands and feed
/// events travel as named JSON inside the envelopes ([`crate::api::ApiCall`],
/// [`ToStage::Feed`]), so adding one does not change this number.
pub const PROTOCOL_VERSION: u32 = 3;
/// An API command not yet applied this long after api-proc sent it is dropped unapplied:
/// its HTTP client was answered with a timeout (api-proc waits longer than this), so applying
/// it now would change state behind a reported failure.
pub const API_COMMAND_EXPIRY_NS: u64 = 10_000_000_000;
/// Largest accepted message, to bound memory on a corrupt length.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Stage → supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToSupervisor {
    /// First message: who is speaking, which protocol.
    Hello {
        stage: StageKind,
        protocol_version: u32,
        pid: u32,
    },
    /// The stage has opened its rings and is doing its work.
    Ready,
    /// api-proc only: a request for the state owner, answered by [`ToStage::ApiReply`].
    Api {
        request_id: u64,
        call: ApiCall,
        /// `CLOCK_MONOTONIC` time api-proc sent it (system-wide, so comparable here).
        sent_ns: u64,
    },
}

/// Supervisor → stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToStage {
    /// Handshake accepted.
    Welcome { protocol_version: u32 },
    /// The full desired state (sent after the handshake and after every change).
    State(PipelineState),
    /// Answer to [`ToSupervisor::Api`].
    ApiReply { request_id: u64, reply: ApiReply },
    /// api-proc only: one [`crate::feed::FeedItem`] of the change feed, as JSON.
    Feed(Json),
    /// Finish up and exit with [`crate::exit::ExitCode::Ok`].
    Shutdown,
}

/// Errors reading or writing a control message.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control connection closed")]
    Closed,
    #[error("control I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("control message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("control message encoding: {0}")]
    Encoding(#[from] postcard::Error),
    #[error("peer speaks control protocol {peer}, we speak {ours}")]
    VersionMismatch { peer: u32, ours: u32 },
    #[error("unexpected control message during handshake")]
    UnexpectedMessage,
}

/// Encodes `msg` with its length prefix.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ControlError> {
    let body = postcard::to_allocvec(msg)?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(ControlError::TooLarge(body.len()));
    }
    let mut framed = Vec::with_capacity(body.len() + 4);
    framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
    framed.extend_from_slice(&body);
    Ok(framed)
}

/// Writes one message (blocking).
pub fn write_msg<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), ControlError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one message (blocking). A clean EOF before the length is [`ControlError::Closed`].
pub fn read_msg<T: DeserializeOwned>(r: &mut impl Read) -> Result<T, ControlError> {
    let mut len = [0u8; 4];
    if let Err(e) = r.read_exact(&mut len) {
        return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ControlError::Closed
        } else {
            e.into()
        });
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(ControlError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(postcard::from_bytes(&body)?)
}

/// Stage side of the handshake: says hello and waits for the welcome.
pub fn stage_handshake(
    stream: &mut (impl Read + Write),
    stage: StageKind,
) -> Result<(), ControlError> {
    write_msg(
        stream,
        &ToSupervisor::Hello {
            stage,
            protocol_version: PROTOCOL_VERSION,
            pid: std::process::id(),
        },
    )?;
    match read_msg::<ToStage>(stream)? {
        ToStage::Welcome { protocol_version } if protocol_version == PROTOCOL_VERSION => Ok(()),
        ToStage::Welcome { protocol_version } => Err(ControlError::VersionMismatch {
            peer: protocol_version,
            ours: PROTOCOL_VERSION,
        }),
        _ => Err(ControlError::UnexpectedMessage),
    }
}

/// Async framing for tokio users (supervisor, api-proc).
#[cfg(feature = "async")]
pub mod r#async {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// Writes one message.
    pub async fn write_msg<T: Serialize>(
        w: &mut (impl AsyncWrite + Unpin),
        msg: &T,
    ) -> Result<(), ControlError> {
        w.write_all(&encode(msg)?).await?;
        w.flush().await?;
        Ok(())
    }

    /// Reads one message. Cancel-safe only between messages: do not race it in `select!`
    /// with other branches that might drop it mid-message; run it in its own task instead.
    pub async fn read_msg<T: DeserializeOwned>(
        r: &mut (impl AsyncRead + Unpin),
    ) -> Result<T, ControlError> {
        let mut len = [0u8; 4];
        if let Err(e) = r.read_exact(&mut len).await {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ControlError::Closed
            } else {
                e.into()
            });
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_MESSAGE_BYTES {
            return Err(ControlError::TooLarge(len));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        Ok(postcard::from_bytes(&body)?)
    }

    /// Stage side of the handshake for async stages: hello, welcome, then the first state
    /// snapshot, which is returned.
    pub async fn stage_handshake(
        reader: &mut (impl AsyncRead + Unpin),
        writer: &mut (impl AsyncWrite + Unpin),
        stage: StageKind,
    ) -> Result<PipelineState, ControlError> {
        write_msg(
            writer,
            &ToSupervisor::Hello {
                stage,
                protocol_version: PROTOCOL_VERSION,
                pid: std::process::id(),
            },
        )
        .await?;
        match read_msg::<ToStage>(reader).await? {
            ToStage::Welcome { protocol_version } if protocol_version == PROTOCOL_VERSION => {}
            ToStage::Welcome { protocol_version } => {
                return Err(ControlError::VersionMismatch {
                    peer: protocol_version,
                    ours: PROTOCOL_VERSION,
                })
            }
            _ => return Err(ControlError::UnexpectedMessage),
        }
        loop {
            if let ToStage::State(state) = read_msg::<ToStage>(reader).await? {
                return Ok(state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn messages_round_trip_over_a_socketpair() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        write_msg(&mut a, &ToSupervisor::Ready).unwrap();
        write_msg(&mut a, &ToStage::Shutdown).unwrap();
        assert_eq!(
            read_msg::<ToSupervisor>(&mut b).unwrap(),
            ToSupervisor::Ready
        );
        assert_eq!(read_msg::<ToStage>(&mut b).unwrap(), ToStage::Shutdown);
        drop(a);
        assert!(matches!(
            read_msg::<ToStage>(&mut b),
            Err(ControlError::Closed)
        ));
    }

    #[test]
    fn oversized_length_is_rejected_without_allocating() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert!(matches!(
            read_msg::<ToStage>(&mut b),
            Err(ControlError::TooLarge(_))
        ));
    }

    #[test]
    fn handshake_rejects_another_version() {
        let (mut stage, mut sup) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let hello: ToSupervisor = read_msg(&mut sup).unwrap();
            assert!(matches!(
                hello,
                ToSupervisor::Hello {
                    stage: StageKind::Render,
                    ..
                }
            ));
            write_msg(
                &mut sup,
                &ToStage::Welcome {
                    protocol_version: 99,
                },
            )
            .unwrap();
        });
        let err = stage_handshake(&mut stage, StageKind::Render).unwrap_err();
        assert!(matches!(
            err,
            ControlError::VersionMismatch { peer: 99, .. }
        ));
        t.join().unwrap();
    }
}
