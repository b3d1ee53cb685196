//! Gossip datagrams signed with the cluster secret.
//!
//! chitchat checks the cluster id only on the first message of an exchange;
//! the replies (SynAck, Ack) carry state deltas it applies from whoever
//! sent them, to any member's record, even the receiver's own. Over plain
//! UDP anyone who can reach a gossip port could therefore blank a member's
//! record, fake heartbeats, or send a digest crafted to make chitchat
//! panic. With a cluster secret every datagram here carries, after the
//! chitchat envelope, the time it was sent (milliseconds since the epoch)
//! and an HMAC-SHA256 (16 bytes) over both; a datagram whose MAC does not
//! verify, or that is more than [`MAX_AGE`] old or early, is dropped before
//! chitchat reads it. Replays within that window repeat what a member
//! really said, which gossip already tolerates (versions only move up).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::VecDeque;

use chitchat::ChitchatEnvelope;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpSocket};
use shoal_proto::cluster_auth::{ClusterSecret, constant_time_eq};
use tracing::{debug, warn};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_507;
/// Bytes added to each datagram: the time sent and the MAC.
const TRAILER: usize = 8 + MAC_BYTES;
const MAC_BYTES: usize = 16;
/// How far a datagram's time may be from the receiver's clock.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// UDP gossip signed with `secret`.
pub struct SignedUdp {
    pub secret: ClusterSecret,
}

#[async_trait::async_trait]
impl Transport for SignedUdp {
    async fn open(&self, listen: SocketAddr) -> TransportResult<Box<dyn Socket>> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let public = tokio::net::UdpSocket::bind(listen).await?;
        let codec = UdpSocket::open(loopback).await?;
        let relay = tokio::net::UdpSocket::bind(loopback).await?;
        Ok(Box::new(SignedSocket {
            codec_address: codec.local_addr()?,
            relay_address: relay.local_addr()?,
            public,
            codec,
            relay,
            secret: self.secret.clone(),
            pending: VecDeque::new(),
            buffer: vec![0; MAX_DATAGRAM],
        }))
    }
}

/// chitchat's transport traits return `anyhow` errors.
type TransportResult<T> = anyhow::Result<T>;

/// chitchat encodes and decodes its messages only inside its own UDP
/// socket, so this socket keeps one on loopback as a codec: an outgoing
/// envelope is sent through it to `relay`, read back as bytes, signed and
/// sent on; an incoming datagram that verifies is handed from `relay` to
/// the codec, which decodes it. `pending` holds, in order, the senders of
/// datagrams handed over and not yet read back (a `recv` cancelled between
/// the two steps finds its datagram on the next call).
struct SignedSocket {
    public: tokio::net::UdpSocket,
    codec: UdpSocket,
    codec_address: SocketAddr,
    relay: tokio::net::UdpSocket,
    relay_address: SocketAddr,
    secret: ClusterSecret,
    pending: VecDeque<SocketAddr>,
    buffer: Vec<u8>,
}

/// How long a datagram handed to the codec may take to come back out.
const CODEC_WAIT: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn mac(secret: &ClusterSecret, signed: &[u8]) -> [u8; MAC_BYTES] {
    let full = secret.mac_parts(&[b"shoal gossip datagram\0", signed]);
    let mut short = [0; MAC_BYTES];
    short.copy_from_slice(&full[..MAC_BYTES]);
    short
}

/// The envelope bytes of a datagram, if it is signed with `secret` and
/// sent within [`MAX_AGE`] of `now`.
pub fn verify<'a>(secret: &ClusterSecret, datagram: &'a [u8], now: u64) -> Option<&'a [u8]> {
    let split = datagram.len().checked_sub(TRAILER)?;
    let (signed, given) = datagram.split_at(split + 8);
    if !constant_time_eq(given, &mac(secret, signed)) {
        return None;
    }
    let sent = u64::from_le_bytes(signed[split..].try_into().ok()?);
    (now.abs_diff(sent) <= MAX_AGE.as_millis() as u64).then_some(&signed[..split])
}

/// `envelope` signed with `secret` at `now`.
pub fn sign(secret: &ClusterSecret, envelope: &[u8], now: u64) -> Vec<u8> {
    let mut datagram = Vec::with_capacity(envelope.len() + TRAILER);
    datagram.extend_from_slice(envelope);
    datagram.extend_from_slice(&now.to_le_bytes());
    let tag = mac(secret, &datagram);
    datagram.extend_from_slice(&tag);
    datagram
}

#[async_trait::async_trait]
impl Socket for SignedSocket {
    fn local_addr(&self) -> TransportResult<SocketAddr> {
        Ok(self.public.local_addr()?)
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> TransportResult<SendOutcome> {
        self.codec.send(self.relay_address, envelope).await?;
        let encoded = loop {
            let read = tokio::time::timeout(CODEC_WAIT, self.relay.recv_from(&mut self.buffer));
            match read.await {
                Ok(Ok((length, from))) if from == self.codec_address => break length,
                // Something else on the relay's loopback port: not ours.
                Ok(Ok(_)) => continue,
                Ok(Err(error)) => return Err(error.into()),
                Err(_) => return Ok(SendOutcome { num_bytes_sent: 0 }),
            }
        };
        let datagram = sign(&self.secret, &self.buffer[..encoded], now_ms());
        if datagram.len() > MAX_DATAGRAM {
            warn!(bytes = datagram.len(), %to, "gossip message too large for one datagram: not sent");
            return Ok(SendOutcome { num_bytes_sent: 0 });
        }
        match self.public.send_to(&datagram, to).await {
            Ok(sent) => Ok(SendOutcome {
                num_bytes_sent: sent,
            }),
            // A peer that is gone or unreachable is the failure detector's
            // business, not a broken transport.
            Err(error) => {
                debug!(%to, %error, "gossip datagram not sent");
                Ok(SendOutcome { num_bytes_sent: 0 })
            }
        }
    }

    async fn recv(&mut self) -> TransportResult<RecvOutcome> {
        loop {
            if let Some(from) = self.pending.front().copied() {
                match tokio::time::timeout(CODEC_WAIT, self.codec.recv()).await {
                    Ok(outcome) => {
                        let outcome = outcome?;
                        if outcome.from_addr != self.relay_address {
                            continue;
                        }
                        self.pending.pop_front();
                        return Ok(RecvOutcome {
                            from_addr: from,
                            envelope: outcome.envelope,
                            num_bytes_received: outcome.num_bytes_received + TRAILER,
                        });
                    }
                    // Lost on loopback, or not decodable: start afresh.
                    Err(_) => {
                        self.pending.clear();
                        continue;
                    }
                }
            }
            let (received, from) = match self.public.recv_from(&mut self.buffer).await {
                Ok(received) => received,
                Err(error) => {
                    debug!(%error, "gossip datagram not received");
                    continue;
                }
            };
            let Some(envelope) = verify(&self.secret, &self.buffer[..received], now_ms()) else {
                warn!(%from, bytes = received, "gossip datagram dropped: not signed with this cluster's secret, or too old");
                continue;
            };
            if self
                .relay
                .send_to(envelope, self.codec_address)
                .await
                .is_ok()
            {
                self.pending.push_back(from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fresh_datagrams_signed_with_the_secret_pass() {
        let secret = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let other = ClusterSecret::new("another-secret-of-this-fleet").unwrap();
        let now = 1_800_000_000_000;
        let datagram = sign(&secret, b"envelope bytes", now);
        assert_eq!(
            verify(&secret, &datagram, now + 1_000),
            Some(&b"envelope bytes"[..])
        );
        assert_eq!(verify(&other, &datagram, now), None);
        let late = now + MAX_AGE.as_millis() as u64 + 1;
        assert_eq!(verify(&secret, &datagram, late), None);
        let mut changed = datagram.clone();
        changed[0] ^= 1;
        assert_eq!(verify(&secret, &changed, now), None);
        assert_eq!(verify(&secret, &datagram[..10], now), None);
        assert_eq!(verify(&secret, b"", now), None);
        // Moving the time without the MAC fails too.
        let mut moved = datagram.clone();
        let at = moved.len() - TRAILER;
        moved[at] ^= 1;
        assert_eq!(verify(&secret, &moved, now), None);
    }
}
