//! The gRPC codec of the OTLP logs service: a request comes in as its
//! protobuf bytes (read in place by `otlp_view`, which leaves only odd
//! encodings, and each resource and scope, to prost), the answer goes out
//! encoded by prost.

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Requests as bytes, answers as `ExportLogsServiceResponse`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRequests;

impl Codec for RawRequests {
    type Encode = ExportLogsServiceResponse;
    type Decode = Bytes;
    type Encoder = AnswerEncoder;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        AnswerEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

/// Encodes the answer with prost.
#[derive(Debug, Clone, Copy)]
pub struct AnswerEncoder;

impl Encoder for AnswerEncoder {
    type Item = ExportLogsServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|error| Status::internal(format!("encoding the answer: {error}")))
    }
}

/// Hands on a message's bytes (after tonic's size limit and decompression).
#[derive(Debug, Clone, Copy)]
pub struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let length = src.remaining();
        Ok(Some(src.copy_to_bytes(length)))
    }
}
