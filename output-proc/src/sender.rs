//! One device's sender: a tokio task that, at the device's refresh rate, reads the device's
//! latest frame from shared memory and sends it in the device's protocol.
//!
//! Everything that could make one device hold up another is kept inside this task: hostname
//! resolution runs asynchronously and is retried here, sends are non-blocking
//! (`try_send_to`; a full socket buffer or any other error is counted and the frame is
//! dropped), and missed ticks are skipped rather than bursted. Each device has its own socket,
//! so an error pending on one destination can never surface on another's send.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use proto::layout::{DeviceStats, Segment};
use proto::pipeline::DeviceSpec;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};
use tokio::time::MissedTickBehavior;

use crate::protocols::{Packets, Protocol, Transport};
use proto::timing::frame_period;

/// How long an unresolvable hostname waits before the next attempt.
pub const RESOLVE_RETRY: Duration = Duration::from_secs(3);

/// Why a device's destination could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("resolving {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{host} has no address")]
    NoAddress { host: String },
    #[error("binding a UDP socket: {0}")]
    BindSocket(std::io::Error),
}

/// How a running sender is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// Send one all-black frame before stopping.
    pub blackout: bool,
}

/// Where one device's packets go, once set up.
#[derive(Debug)]
pub enum Link {
    /// The protocol sends nothing (dummy).
    Null,
    /// A UDP socket of this device and its destination.
    Udp { socket: UdpSocket, dest: SocketAddr },
}

impl Link {
    /// Resolves the transport's host (asynchronously) and binds a socket for it.
    pub async fn connect(transport: &Transport) -> Result<Self, ConnectError> {
        match transport {
            Transport::None => Ok(Link::Null),
            Transport::Udp { host, port } => {
                let dest = resolve(host, *port).await?;
                let any = match dest {
                    SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let socket = UdpSocket::bind((any, 0))
                    .await
                    .map_err(ConnectError::BindSocket)?;
                // tokio's `try_send_to` only tries once the runtime has seen the socket
                // become writable; wait for that first readiness here (a fresh UDP socket is
                // writable at once), so the first frame is not dropped as WouldBlock.
                socket.writable().await.map_err(ConnectError::BindSocket)?;
                Ok(Link::Udp { socket, dest })
            }
        }
    }
}

/// Resolves `host` (an IP literal or a hostname; a trailing dot is ignored), preferring an
/// IPv4 address as LedFx (A records only) does.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConnectError> {
    let host = host.trim().trim_end_matches('.');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| ConnectError::NoAddress {
            host: host.to_owned(),
        })
}

/// The result of sending one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// A packet could not be sent (socket buffer full, network unreachable, …); the rest of
    /// the frame was dropped.
    Failed,
}

/// Encodes `frame` and sends its packets without waiting; counts the result in `stats`.
pub fn send_frame(
    link: &Link,
    protocol: &mut dyn Protocol,
    frame: &[u8],
    packets: &mut Packets,
    stats: &DeviceStats<'_>,
) -> SendOutcome {
    packets.clear();
    protocol.encode(frame, packets);
    let outcome = match link {
        Link::Null => SendOutcome::Sent,
        Link::Udp { socket, dest } => {
            // A partial frame is useless to the receiver, so stop at the first failure.
            if packets.iter().all(|p| socket.try_send_to(p, *dest).is_ok()) {
                SendOutcome::Sent
            } else {
                SendOutcome::Failed
            }
        }
    };
    match outcome {
        SendOutcome::Sent => stats.record_sent(proto::monotonic_ns()),
        SendOutcome::Failed => stats.record_error(),
    }
    outcome
}

/// Everything a device task needs.
pub struct DeviceTask {
    pub spec: DeviceSpec,
    pub protocol: Box<dyn Protocol>,
    pub segment: Arc<Segment>,
    /// The global pause flag: while true nothing is sent.
    pub paused: watch::Receiver<bool>,
}

impl DeviceTask {
    /// Runs until told to stop (or until the stop sender is dropped, which means stop without
    /// blackout).
    pub async fn run(mut self, mut stop: oneshot::Receiver<Stop>) {
        let id = self.spec.id.clone();
        let transport = self.protocol.transport();
        let mut warned = false;
        let link = loop {
            tokio::select! {
                biased;
                _ = &mut stop => return,
                result = Link::connect(&transport) => match result {
                    Ok(link) => {
                        if warned {
                            tracing::info!(device = %id, "device address resolved");
                        }
                        break link;
                    }
                    Err(error) => {
                        if !warned {
                            tracing::warn!(device = %id, %error, "device unreachable, retrying");
                            warned = true;
                        }
                        self.segment.device_stats(self.spec.slot).record_error();
                    }
                },
            }
            tokio::select! {
                biased;
                _ = &mut stop => return,
                () = tokio::time::sleep(RESOLVE_RETRY) => {}
            }
        };

        let stats = self.segment.device_stats(self.spec.slot);
        let slot = self.segment.device_slot(self.spec.slot);
        let capacity = self.spec.pixel_count as usize * 3;
        let mut scratch = Vec::with_capacity(capacity);
        let mut frame = Vec::with_capacity(capacity);
        let mut have_frame = false;
        // Number of the newest published frame looked at (0: none yet).
        let mut seen_no = 0u64;
        let mut packets = Packets::default();
        let mut failing = false;
        let mut interval = tokio::time::interval(frame_period(self.spec.refresh_rate));
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                request = &mut stop => {
                    if request.is_ok_and(|r| r.blackout) {
                        frame.clear();
                        frame.resize(capacity, 0);
                        send_frame(&link, self.protocol.as_mut(), &frame, &mut packets, &stats);
                    }
                    return;
                }
                _ = interval.tick() => {}
            }
            if *self.paused.borrow() {
                continue;
            }
            // Copy the frame out only when render-proc published a new one; otherwise (render
            // stalled or restarting) the last frame is resent as is. A failed read (the writer
            // overtook us on every retry) also keeps the previous frame.
            let latest = slot.latest_frame_no();
            if latest != seen_no {
                if let Some(meta) = slot.read_latest(&mut scratch) {
                    seen_no = meta.frame_no;
                    // A frame of another generation was left in this (reused) slot by the
                    // device that had it before: for this device it is "nothing yet".
                    if meta.generation == self.spec.generation {
                        proto::pipeline::fit_device_frame(
                            &scratch,
                            self.spec.pixel_count,
                            self.spec.center_offset,
                            &mut frame,
                        );
                        have_frame = true;
                    }
                }
            }
            if !have_frame {
                continue;
            }
            let outcome = send_frame(&link, self.protocol.as_mut(), &frame, &mut packets, &stats);
            // Log transitions only: this loop runs at up to 125 fps.
            match (outcome, failing) {
                (SendOutcome::Failed, false) => {
                    tracing::warn!(device = %id, "sending to device failed; counting errors");
                    failing = true;
                }
                (SendOutcome::Sent, true) => {
                    tracing::info!(device = %id, "sending to device works again");
                    failing = false;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_literals_and_localhost_resolve() {
        let a = resolve("127.0.0.1", 4048).await.unwrap();
        assert_eq!(a, "127.0.0.1:4048".parse().unwrap());
        let a = resolve(" ::1 ", 1).await.unwrap();
        assert_eq!(a, "[::1]:1".parse().unwrap());
        // localhost comes from /etc/hosts: no network involved. IPv4 is preferred.
        let a = resolve("localhost.", 9).await.unwrap();
        assert_eq!(a, "127.0.0.1:9".parse().unwrap());
    }

    #[tokio::test]
    async fn null_link_counts_frames_without_sending() {
        let segment = Segment::create().unwrap();
        let stats = segment.device_stats(4);
        let mut dummy = crate::protocols::dummy::Dummy;
        let mut packets = Packets::default();
        let link = Link::connect(&Transport::None).await.unwrap();
        let outcome = send_frame(&link, &mut dummy, &[0; 3], &mut packets, &stats);
        assert_eq!(outcome, SendOutcome::Sent);
        assert_eq!((stats.frames_sent(), stats.send_errors()), (1, 0));
        assert!(stats.last_send_ns() > 0);
    }

    #[tokio::test]
    async fn a_failing_send_is_counted_not_waited_for() {
        let segment = Segment::create().unwrap();
        let stats = segment.device_stats(5);
        // An IPv4 socket cannot send to an IPv6 destination: every send fails at once.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.writable().await.unwrap();
        let link = Link::Udp {
            socket,
            dest: "[::1]:9".parse().unwrap(),
        };
        let raw = serde_json::json!({"ip_address": "::1"});
        let mut ddp = crate::protocols::ddp::Ddp::new(
            crate::protocols::ddp::DdpConfig::from_raw(raw.as_object().unwrap()).unwrap(),
        );
        let mut packets = Packets::default();
        let outcome = send_frame(&link, &mut ddp, &[1; 3000], &mut packets, &stats);
        assert_eq!(outcome, SendOutcome::Failed);
        assert_eq!((stats.frames_sent(), stats.send_errors()), (0, 1));
    }
}
